// porta_spawn: start a CGI program with posix_spawn(3) instead of libuv's
// fork+exec, and reap it through a pidfd watched by the event loop.
//
// Why: Node's child_process.spawn forks the whole Node process (copying its
// page tables) and blocks the event loop until exec. glibc's posix_spawn uses
// clone(CLONE_VM | CLONE_VFORK): no copy, the parent waits only for the exec.
//
// The spawn itself runs on a libuv worker thread: with vfork semantics the
// calling thread waits until the program has exec'd (≈ 2.4 ms for python3
// here), time the event loop should spend serving others.
//
// Fd ownership:
// - The three pipes are made here with O_CLOEXEC; the child's ends are closed
//   before spawn() returns; the parent's ends are returned to JS, which owns them.
// - stdout_fd >= 0 (socket mode) is the client socket, lent by the caller. The
//   child gets it as fd 1. Its O_NONBLOCK flag is cleared first: the flag lives
//   on the shared file description, and a CGI program expects a blocking stdout.
// - The pidfd is owned by the reaper below and closed once the child is reaped.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "porta_spawn: N-API call failed");  \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

// One watched child: a pidfd poll handle, or a timer when pidfd_open is missing.
typedef struct reaper {
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } handle;
  int uses_pidfd;
  int pidfd;
  pid_t pid;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
} reaper_t;

static void reaper_free(uv_handle_t* handle) {
  reaper_t* r = (reaper_t*)handle->data;
  if (r->pidfd >= 0) close(r->pidfd);
  free(r);
}

// Reap if the child has exited; report (code, signal) to JS once.
static void reaper_check(reaper_t* r) {
  int status = 0;
  pid_t got;
  do {
    got = waitpid(r->pid, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return;  // still running

  if (r->uses_pidfd) uv_poll_stop(&r->handle.poll);
  else uv_timer_stop(&r->handle.timer);

  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2], callback, global, ignored;
  if (got < 0) {  // ECHILD: someone else reaped it; we cannot know how it ended
    napi_get_null(env, &argv[0]);
    napi_get_null(env, &argv[1]);
  } else if (WIFSIGNALED(status)) {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, WTERMSIG(status), &argv[1]);
  } else {
    napi_create_int32(env, WEXITSTATUS(status), &argv[0]);
    napi_get_null(env, &argv[1]);
  }
  napi_get_reference_value(env, r->callback, &callback);
  napi_get_global(env, &global);
  napi_make_callback(env, r->context, global, callback, 2, argv, &ignored);
  napi_delete_reference(env, r->callback);
  napi_async_destroy(env, r->context);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t*)&r->handle, reaper_free);
}

static void on_pidfd(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  reaper_check((reaper_t*)handle->data);
}

static void on_timer(uv_timer_t* handle) { reaper_check((reaper_t*)handle->data); }

static int get_string(napi_env env, napi_value value, char** out) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return -1;
  *out = malloc(length + 1);
  if (*out == NULL) return -1;
  return napi_get_value_string_utf8(env, value, *out, length + 1, &length) == napi_ok ? 0 : -1;
}

// A JS string array as a NULL-terminated char* vector (argv, envp).
static char** get_vector(napi_env env, napi_value array, const char* first) {
  uint32_t count = 0;
  if (napi_get_array_length(env, array, &count) != napi_ok) return NULL;
  uint32_t offset = first != NULL ? 1 : 0;
  char** vector = calloc(count + offset + 1, sizeof(char*));
  if (vector == NULL) return NULL;
  if (first != NULL) vector[0] = strdup(first);
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    if (napi_get_element(env, array, i, &item) != napi_ok || get_string(env, item, &vector[i + offset]) != 0) {
      for (uint32_t j = 0; j <= i + offset; j++) free(vector[j]);
      free(vector);
      return NULL;
    }
  }
  return vector;
}

static void free_vector(char** vector) {
  if (vector == NULL) return;
  for (char** p = vector; *p != NULL; p++) free(*p);
  free(vector);
}

static void close_pair(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
}

// One spawn request, filled on the loop thread, run on a worker thread (the
// vfork-style wait for exec takes milliseconds: not the event loop's time),
// and finished on the loop thread again.
typedef struct request {
  napi_async_work work;
  napi_ref on_spawn;
  napi_ref on_exit;
  char* program;
  char* cwd;
  char** argv;
  char** envp;
  int socket_fd;
  bool stdin_null;
  int32_t nice;
  int in[2], out[2], err[2];
  pid_t pid;
  int pidfd;
  int failed_errno;
  const char* failed_what;
} request_t;

static void request_free(napi_env env, request_t* q) {
  close_pair(q->in);
  close_pair(q->out);
  close_pair(q->err);
  free(q->program);
  free(q->cwd);
  free_vector(q->argv);
  free_vector(q->envp);
  if (q->on_spawn != NULL) napi_delete_reference(env, q->on_spawn);
  if (q->on_exit != NULL) napi_delete_reference(env, q->on_exit);
  if (q->work != NULL) napi_delete_async_work(env, q->work);
  free(q);
}

// Worker thread: no N-API calls here.
static void spawn_execute(napi_env env, void* data) {
  (void)env;
  request_t* q = data;
  if ((!q->stdin_null && pipe2(q->in, O_CLOEXEC) != 0) || (q->socket_fd < 0 && pipe2(q->out, O_CLOEXEC) != 0) ||
      pipe2(q->err, O_CLOEXEC) != 0) {
    q->failed_errno = errno, q->failed_what = "pipe2";
    return;
  }
  if (q->socket_fd >= 0) {
    int flags = fcntl(q->socket_fd, F_GETFL);
    if (flags < 0 || fcntl(q->socket_fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      q->failed_errno = errno, q->failed_what = "fcntl";
      return;
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  if (q->stdin_null) posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  else posix_spawn_file_actions_adddup2(&actions, q->in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, q->socket_fd >= 0 ? q->socket_fd : q->out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, q->err[1], 2);
  posix_spawn_file_actions_addchdir_np(&actions, q->cwd);

  // Node ignores SIGPIPE, and ignored signals survive exec: give the program
  // default dispositions and an empty mask (worker threads block signals).
  // Its own process group lets a timeout kill everything it started.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  int rc = posix_spawn(&q->pid, q->program, &actions, &attr, q->argv, q->envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    q->failed_errno = rc, q->failed_what = q->program;
    return;
  }
  // The child holds its ends now.
  if (q->in[0] >= 0) close(q->in[0]), q->in[0] = -1;
  if (q->out[1] >= 0) close(q->out[1]), q->out[1] = -1;
  close(q->err[1]), q->err[1] = -1;
  // A lower priority for the program (and what it starts), so that serving
  // files stays quick while programs run; best effort.
  if (q->nice > 0) setpriority(PRIO_PROCESS, (id_t)q->pid, q->nice);
  q->pidfd = (int)syscall(SYS_pidfd_open, q->pid, 0);
}

static napi_value errno_error(napi_env env, const char* what, int err) {
  char message[512];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value msg, code, error, name;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  const char* symbolic = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == ENOEXEC ? "ENOEXEC" : "ESPAWN";
  napi_create_string_utf8(env, symbolic, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, error, "code", name);
  return error;
}

// Loop thread: start watching the child, then tell JS.
static void spawn_complete(napi_env env, napi_status status, void* data) {
  request_t* q = data;
  napi_value argv[2], callback, global, ignored;
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  if (status != napi_ok && q->failed_what == NULL) q->failed_errno = ECANCELED, q->failed_what = "spawn";
  if (q->failed_what != NULL) {
    argv[0] = errno_error(env, q->failed_what, q->failed_errno);
  } else {
    reaper_t* r = calloc(1, sizeof *r);
    r->pid = q->pid;
    r->env = env;
    r->pidfd = q->pidfd;
    r->callback = q->on_exit;
    q->on_exit = NULL;  // the reaper owns it now
    napi_value resource_name;
    napi_create_string_utf8(env, "porta:cgi-exit", NAPI_AUTO_LENGTH, &resource_name);
    napi_async_init(env, NULL, resource_name, &r->context);
    uv_loop_t* loop = NULL;
    napi_get_uv_event_loop(env, &loop);
    if (r->pidfd >= 0) {
      r->uses_pidfd = 1;
      uv_poll_init(loop, &r->handle.poll, r->pidfd);
      r->handle.poll.data = r;
      uv_poll_start(&r->handle.poll, UV_READABLE, on_pidfd);
    } else {
      // Kernels before 5.3 have no pidfd: poll waitpid instead.
      uv_timer_init(loop, &r->handle.timer);
      r->handle.timer.data = r;
      uv_timer_start(&r->handle.timer, on_timer, 10, 10);
    }
    int32_t values[4] = {q->pid, q->in[1], q->out[0], q->err[0]};
    q->in[1] = q->out[0] = q->err[0] = -1;  // JS owns them now
    napi_create_array_with_length(env, 4, &argv[1]);
    for (uint32_t i = 0; i < 4; i++) {
      napi_value v;
      napi_create_int32(env, values[i], &v);
      napi_set_element(env, argv[1], i, v);
    }
  }
  napi_get_reference_value(env, q->on_spawn, &callback);
  napi_get_global(env, &global);
  napi_call_function(env, global, callback, 2, argv, &ignored);
  request_free(env, q);
}

// spawn(program, args[], env[], cwd, stdinNull, stdoutFd, nice,
//       onSpawn(err, [pid, stdinFd | -1, stdoutFd | -1, stderrFd]), onExit(code, signal))
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value args[9];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 9) {
    napi_throw_type_error(env, NULL, "spawn(program, args, env, cwd, stdinNull, stdoutFd, nice, onSpawn, onExit)");
    return NULL;
  }
  request_t* q = calloc(1, sizeof *q);
  q->in[0] = q->in[1] = q->out[0] = q->out[1] = q->err[0] = q->err[1] = -1;
  q->pidfd = -1;
  if (napi_get_value_bool(env, args[4], &q->stdin_null) != napi_ok || napi_get_value_int32(env, args[5], &q->socket_fd) != napi_ok ||
      napi_get_value_int32(env, args[6], &q->nice) != napi_ok || get_string(env, args[0], &q->program) != 0 ||
      get_string(env, args[3], &q->cwd) != 0 || (q->argv = get_vector(env, args[1], q->program)) == NULL ||
      (q->envp = get_vector(env, args[2], NULL)) == NULL) {
    request_free(env, q);
    napi_throw_type_error(env, NULL, "porta_spawn: bad arguments");
    return NULL;
  }
  napi_create_reference(env, args[7], 1, &q->on_spawn);
  napi_create_reference(env, args[8], 1, &q->on_exit);
  napi_value resource_name;
  napi_create_string_utf8(env, "porta:cgi-spawn", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_async_work(env, NULL, resource_name, spawn_execute, spawn_complete, q, &q->work) != napi_ok ||
      napi_queue_async_work(env, q->work) != napi_ok) {
    request_free(env, q);
    napi_throw_error(env, NULL, "porta_spawn: cannot queue the spawn");
    return NULL;
  }
  return NULL;
}

// killGroup(pgid, signo) → 0 or errno. process.kill(-pgid) throws on ESRCH,
// the common answer once a program is gone, and exceptions cost a stack trace.
static napi_value KillGroup(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2], result;
  int32_t pgid = 0, signo = 0;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2 || napi_get_value_int32(env, args[0], &pgid) != napi_ok ||
      napi_get_value_int32(env, args[1], &signo) != napi_ok || pgid <= 1) {
    napi_throw_type_error(env, NULL, "killGroup(pgid > 1, signo)");
    return NULL;
  }
  int rc = kill(-pgid, signo) == 0 ? 0 : errno;
  napi_create_int32(env, rc, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  napi_create_function(env, "killGroup", NAPI_AUTO_LENGTH, KillGroup, NULL, &fn);
  napi_set_named_property(env, exports, "killGroup", fn);
  return exports;
}
