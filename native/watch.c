// A running program, watched from the event loop: its exit (a pidfd poll, or
// a timer where pidfd_open is missing) and its stderr pipe, each a libuv
// handle. Its stderr is read here, in C: JS is called only for output, so a
// silent program (the usual one) costs no JavaScript until it exits.

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "porta.h"

typedef struct child {
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } exit;
  uv_poll_t err;
  bool stderr_seen;  // a chunk went to JS, so its EOF is reported too
  int pidfd;
  int err_fd;
  int handles;  // still open; freed at 0
  pid_t pid;
  napi_env env;
  napi_ref on_exit;
  napi_ref on_stderr;
  spawn_t* direct;  // a direct start's spawn (clone.c): freed once reaped
} child_t;

static void child_handle_closed(uv_handle_t* handle) {
  child_t* c = handle->data;
  if (--c->handles == 0) free(c);
}

void call_js(napi_env env, napi_value callback, size_t argc, napi_value* argv) {
  // Through napi_make_callback, so that promises settled inside it run their
  // reactions now; a throw is treated as any I/O callback's (porta's
  // callbacks contain their own errors: this does not happen).
  addon_state_t* state = NULL;
  napi_value global, ignored;
  napi_get_instance_data(env, (void**)&state);
  napi_get_global(env, &global);
  if (napi_make_callback(env, state->context, global, callback, argc, argv, &ignored) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
}

// Reap if the child has exited; report (code, signal) to JS once.
static void exit_check(child_t* c) {
  int status = 0;
  pid_t got;
  do {
    got = waitpid(c->pid, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return;  // still running
  uv_close((uv_handle_t*)&c->exit, child_handle_closed);  // stops it: the pidfd leaves epoll here
  if (c->pidfd >= 0) close(c->pidfd), c->pidfd = -1;

  napi_env env = c->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3], callback;
  napi_get_undefined(env, &argv[2]);
  spawn_t* direct = c->direct;
  c->direct = NULL;
  // A direct child has let go of our memory by now (the kernel zeroed tid
  // at its exec or exit, before the exit could be seen); if it never got to
  // exec, it said why.
  if (direct != NULL && __atomic_load_n(&direct->tid, __ATOMIC_ACQUIRE) == 0) {
    if (direct->child_step != NULL) argv[2] = errno_error(env, direct->child_step, direct->child_errno);
    spawn_free(direct);
  }
  if (got < 0) {  // ECHILD: someone else reaped it; how it ended is unknown
    napi_get_null(env, &argv[0]);
    napi_get_null(env, &argv[1]);
  } else if (WIFSIGNALED(status)) {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, WTERMSIG(status), &argv[1]);
  } else {
    napi_create_int32(env, WEXITSTATUS(status), &argv[0]);
    napi_get_null(env, &argv[1]);
  }
  napi_get_reference_value(env, c->on_exit, &callback);
  napi_delete_reference(env, c->on_exit);
  c->on_exit = NULL;
  call_js(env, callback, 3, argv);
  napi_close_handle_scope(env, scope);
}

static void on_pidfd(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  exit_check(handle->data);
}

static void on_exit_timer(uv_timer_t* handle) { exit_check(handle->data); }

// Each read goes to JS as a Buffer; at EOF (or a read error) the watch ends,
// and JS hears of the end only if it heard of data.
static void on_stderr(uv_poll_t* handle, int status, int events) {
  (void)events;
  child_t* c = handle->data;
  napi_env env = c->env;
  addon_state_t* state = NULL;
  napi_get_instance_data(env, (void**)&state);
  ssize_t n = -1;
  if (status == 0) {
    do {
      n = read(c->err_fd, state->buffer, sizeof state->buffer);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;  // woken for nothing: wait for the next event
  }
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value arg, callback;
  napi_get_reference_value(env, c->on_stderr, &callback);
  if (n > 0) {
    void* copy = NULL;
    napi_create_buffer_copy(env, (size_t)n, state->buffer, &copy, &arg);
    c->stderr_seen = true;
    call_js(env, callback, 1, &arg);
  } else {
    uv_close((uv_handle_t*)&c->err, child_handle_closed);  // leaves epoll before the fd closes
    close(c->err_fd), c->err_fd = -1;
    napi_delete_reference(env, c->on_stderr);
    c->on_stderr = NULL;
    if (c->stderr_seen) {
      napi_get_null(env, &arg);
      call_js(env, callback, 1, &arg);
    }
  }
  napi_close_handle_scope(env, scope);
}

void watch_child(napi_env env, pid_t pid, int pidfd, int err_fd, napi_value exit_cb, napi_value stderr_cb,
                 spawn_t* direct) {
  child_t* c = calloc(1, sizeof *c);
  c->direct = direct;
  uv_loop_t* loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  c->env = env;
  c->pid = pid;
  c->pidfd = pidfd;
  c->err_fd = err_fd;
  napi_create_reference(env, exit_cb, 1, &c->on_exit);
  napi_create_reference(env, stderr_cb, 1, &c->on_stderr);
  c->handles = 2;
  if (pidfd >= 0) {
    uv_poll_init(loop, &c->exit.poll, pidfd);
    c->exit.poll.data = c;
    uv_poll_start(&c->exit.poll, UV_READABLE, on_pidfd);
  } else {
    // Kernels before 5.3 have no pidfd: poll waitpid instead.
    uv_timer_init(loop, &c->exit.timer);
    c->exit.timer.data = c;
    uv_timer_start(&c->exit.timer, on_exit_timer, 10, 10);
  }
  uv_poll_init(loop, &c->err, err_fd);
  c->err.data = c;
  uv_poll_start(&c->err, UV_READABLE, on_stderr);
}
