// Running programs, watched from the event loop: each one's exit (its pidfd,
// or a timer where pidfd_open is missing) and its stderr pipe. stderr is read
// here, in C: JS is called only for output, so a silent program (the usual
// one) costs no JavaScript until it exits.
//
// Why an epoll set of our own, registered in libuv's loop as one uv_poll:
// a uv_poll per fd costs six system calls over its life (uv_poll_init tries
// the fd in libuv's epoll set, makes it non-blocking and takes it out again
// before uv_poll_start adds it), twelve a program. Here a program's two fds
// cost an EPOLL_CTL_ADD each and an EPOLL_CTL_DEL each. The DEL is not left
// to close(): a program being started at that moment holds copies of our
// fds until it execs, and epoll forgets an fd only when its last copy goes.

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "porta.h"

// The epoll set and its place in the loop; one per Node environment, made
// at the first program. It holds the loop open only while it watches something.
typedef struct watcher {
  uv_poll_t poll;
  int epfd;
  int watched;  // fds in the set
} watcher_t;

typedef struct child {
  watcher_t* watcher;
  uv_timer_t* timer;  // without a pidfd only
  bool stderr_seen;   // a chunk went to JS, so its EOF is reported too
  int pidfd;          // -1 once closed
  int err_fd;         // -1 once closed
  int open;           // watches still open (exit, stderr); freed at 0
  pid_t pid;
  napi_env env;
  napi_ref on_exit;
  napi_ref on_stderr;
  spawn_t* direct;  // a direct start's spawn (clone.c): freed once reaped
} child_t;

// What an epoll event is about, in the low two bits: a child's exit or
// stderr, or a hangup watch (below); the rest is the pointer (8-aligned).
enum { EXIT_EVENT = 0, STDERR_EVENT = 1, HANGUP_EVENT = 2, EVENT_KIND = 3 };

// Socket mode: the client socket, watched while its program runs, for one
// thing: a reset. porta's connection no longer reads the socket (the program
// owns it as stdout), so without this a client that reset would go unseen
// until the program wrote (EPIPE) or its timeout came. Registered with no
// events: epoll then reports only EPOLLERR and EPOLLHUP, never the request
// bytes a client may still send, nor its FIN (a half-close is not leaving).
// One-shot: the first report closes the watch. The memory is the JS
// external's (freed by its finalizer); the fd, our own dup, is closed at the
// report or at unwatchHangup(), whichever comes first.
typedef struct hangup {
  watcher_t* watcher;
  int fd;  // our dup (-1 once closed)
  napi_env env;
  napi_ref on_hangup;
} hangup_t;

static watcher_t* watcher_of(napi_env env);

static void child_release(child_t* c) {
  if (--c->open == 0) free(c);
}

static void timer_closed(uv_handle_t* handle) {
  child_t* c = handle->data;
  free(handle);
  child_release(c);
}

static int watch_fd(watcher_t* w, int fd, child_t* c, int kind) {
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)c | (uint64_t)kind};
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &event) != 0) return -1;
  if (w->watched++ == 0) uv_ref((uv_handle_t*)&w->poll);
  return 0;
}

// Out of the set, then closed.
static void unwatch_fd(watcher_t* w, int* fd) {
  if (epoll_ctl(w->epfd, EPOLL_CTL_DEL, *fd, NULL) == 0 && --w->watched == 0) uv_unref((uv_handle_t*)&w->poll);
  close(*fd);
  *fd = -1;
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

// Reap if the child has exited; report (code, signal, notStarted) to JS once.
static void exit_check(child_t* c) {
  int status = 0;
  pid_t got;
  do {
    got = waitpid(c->pid, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return;  // still running
  if (c->pidfd >= 0) unwatch_fd(c->watcher, &c->pidfd);
  if (c->timer != NULL) uv_close((uv_handle_t*)c->timer, timer_closed);  // releases c once closed

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
  bool timed = c->timer != NULL;
  call_js(env, callback, 3, argv);
  napi_close_handle_scope(env, scope);
  if (!timed) child_release(c);
}

static void on_exit_timer(uv_timer_t* handle) { exit_check(handle->data); }

// Each read goes to JS as a Buffer; at EOF (or a read error) the watch ends,
// and JS hears of the end only if it heard of data.
static void stderr_ready(child_t* c) {
  napi_env env = c->env;
  addon_state_t* state = NULL;
  napi_get_instance_data(env, (void**)&state);
  ssize_t n;
  do {
    n = read(c->err_fd, state->buffer, sizeof state->buffer);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;  // woken for nothing: wait for the next event
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value arg, callback;
  napi_get_reference_value(env, c->on_stderr, &callback);
  bool over = n <= 0;
  if (!over) {
    void* copy = NULL;
    napi_create_buffer_copy(env, (size_t)n, state->buffer, &copy, &arg);
    c->stderr_seen = true;
    call_js(env, callback, 1, &arg);
  } else {
    unwatch_fd(c->watcher, &c->err_fd);
    napi_delete_reference(env, c->on_stderr);
    c->on_stderr = NULL;
    if (c->stderr_seen) {
      napi_get_null(env, &arg);
      call_js(env, callback, 1, &arg);
    }
  }
  napi_close_handle_scope(env, scope);
  if (over) child_release(c);
}

static void hangup_close(hangup_t* h) {
  if (h->fd >= 0) unwatch_fd(h->watcher, &h->fd);
  if (h->on_hangup != NULL) napi_delete_reference(h->env, h->on_hangup), h->on_hangup = NULL;
}

// EPOLLERR or EPOLLHUP: onHangup(code), code the socket's pending error
// ('ECONNRESET', …) or null when both directions were just shut down
// cleanly. Either way the watch is over. The pending error is gone if the
// program's own write met the reset first (its write returned it): the
// connection is then CLOSED all the same, and taken for a reset. (Only a
// program that shut its side down itself, shutdown(1, SHUT_WR), could see
// the client's FIN close it cleanly: its answer was over, and its client
// gone, either way.)
static void hangup_ready(hangup_t* h) {
  if (h->fd < 0) return;
  int pending = 0;
  socklen_t size = sizeof pending;
  if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &pending, &size) != 0) pending = errno;
  struct tcp_info info;
  socklen_t info_size = sizeof info;
  if (pending == 0 && getsockopt(h->fd, IPPROTO_TCP, TCP_INFO, &info, &info_size) == 0 && info.tcpi_state == TCP_CLOSE)
    pending = ECONNRESET;
  napi_env env = h->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, arg;
  napi_get_reference_value(env, h->on_hangup, &callback);
  if (pending == 0) napi_get_null(env, &arg);
  else napi_create_string_utf8(env, uv_err_name(-pending), NAPI_AUTO_LENGTH, &arg);
  hangup_close(h);
  call_js(env, callback, 1, &arg);
  napi_close_handle_scope(env, scope);
}

static void hangup_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  hangup_close(data);
  free(data);
}

// watchHangup(fd, onHangup(code | null)) → a handle for unwatchHangup, or
// null if it cannot be watched. fd is borrowed for this call only: dup'd now.
napi_value WatchHangup(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = -1;
  napi_valuetype type = napi_undefined;
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || napi_typeof(env, args[1], &type) != napi_ok ||
      type != napi_function || fd < 0) {
    napi_throw_type_error(env, NULL, "watchHangup(fd, onHangup)");
    return NULL;
  }
  napi_get_null(env, &result);
  watcher_t* w = watcher_of(env);
  hangup_t* h = w == NULL ? NULL : calloc(1, sizeof *h);
  if (h == NULL) return result;
  h->watcher = w;
  h->env = env;
  h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  struct epoll_event event = {.events = 0, .data.u64 = (uint64_t)(uintptr_t)h | (uint64_t)HANGUP_EVENT};
  if (h->fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, h->fd, &event) != 0) {
    if (h->fd >= 0) close(h->fd);
    free(h);
    return result;
  }
  if (w->watched++ == 0) uv_ref((uv_handle_t*)&w->poll);
  napi_create_reference(env, args[1], 1, &h->on_hangup);
  if (napi_create_external(env, h, hangup_finalize, NULL, &result) != napi_ok) {
    hangup_close(h);
    free(h);
    napi_get_null(env, &result);
  }
  return result;
}

// unwatchHangup(handle): the program is done with the socket; no report comes after this.
napi_value UnwatchHangup(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  void* data = NULL;
  if (argc >= 1 && napi_get_value_external(env, args[0], &data) == napi_ok && data != NULL) hangup_close(data);
  return NULL;
}

// Our set is readable: take what is ready now, and hand each event over. A
// child is freed only once both its fds are out of the set, so an event
// taken in this batch never names a freed one.
static void on_events(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  watcher_t* w = handle->data;
  struct epoll_event ready[64];
  int n;
  do {
    n = epoll_wait(w->epfd, ready, 64, 0);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; i++) {
    int kind = (int)(ready[i].data.u64 & EVENT_KIND);
    void* about = (void*)(uintptr_t)(ready[i].data.u64 & ~(uint64_t)EVENT_KIND);
    if (kind == HANGUP_EVENT) hangup_ready(about);
    else if (kind == STDERR_EVENT) stderr_ready(about);
    else exit_check(about);
  }
}

static watcher_t* watcher_of(napi_env env) {
  addon_state_t* state = NULL;
  napi_get_instance_data(env, (void**)&state);
  if (state->watcher != NULL) return state->watcher;
  watcher_t* w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  uv_loop_t* loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (w->epfd < 0 || uv_poll_init(loop, &w->poll, w->epfd) != 0) {
    if (w->epfd >= 0) close(w->epfd);
    free(w);
    return NULL;
  }
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_events);
  uv_unref((uv_handle_t*)&w->poll);  // until something is watched
  state->watcher = w;
  return w;
}

int watch_child(napi_env env, pid_t pid, int pidfd, int err_fd, napi_value exit_cb, napi_value stderr_cb,
                spawn_t* direct) {
  watcher_t* w = watcher_of(env);
  child_t* c = w == NULL ? NULL : calloc(1, sizeof *c);
  if (c == NULL) return -1;
  c->watcher = w;
  c->env = env;
  c->pid = pid;
  c->pidfd = -1;
  c->err_fd = -1;
  // stderr first: with the exit watched too, nothing can undo it any more.
  if (watch_fd(w, err_fd, c, STDERR_EVENT) != 0) {
    free(c);
    return -1;
  }
  c->err_fd = err_fd;
  if (pidfd >= 0 && watch_fd(w, pidfd, c, EXIT_EVENT) != 0) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, err_fd, NULL);
    if (--w->watched == 0) uv_unref((uv_handle_t*)&w->poll);
    free(c);
    return -1;
  }
  c->pidfd = pidfd;
  c->direct = direct;
  c->open = 2;
  napi_create_reference(env, exit_cb, 1, &c->on_exit);
  napi_create_reference(env, stderr_cb, 1, &c->on_stderr);
  if (pidfd < 0) {
    // Kernels before 5.3 have no pidfd: poll waitpid instead.
    uv_loop_t* loop = NULL;
    napi_get_uv_event_loop(env, &loop);
    c->timer = malloc(sizeof *c->timer);
    uv_timer_init(loop, c->timer);
    c->timer->data = c;
    uv_timer_start(c->timer, on_exit_timer, 10, 10);
  }
  return 0;
}
