// porta_spawn: start a CGI program without forking Node's whole address
// space, as a user other than root, and reap it through a pidfd watched by
// the event loop. And (at the end, "sendfile(2)") send a large static file's
// body to a client socket without copying it through JavaScript.
//
// Why: Node's child_process.spawn forks the whole Node process (copying its
// page tables) and blocks the event loop until exec. vfork(2) (clone with
// CLONE_VM | CLONE_VFORK, what glibc's posix_spawn uses) copies nothing: the
// child borrows the parent's memory until it execs. posix_spawn itself cannot
// change the user, so the child steps are written out here: only raw system
// calls between vfork and exec (see spawn_child).
//
// The spawn runs on a libuv worker thread: with vfork semantics the calling
// thread waits until the program has exec'd (≈ 2.4 ms for python3 here), time
// the event loop should spend serving others.
//
// Fd ownership:
// - stdout_fd (socket mode) is the client socket's fd, borrowed from the
//   caller only for the duration of the JS call: Spawn() duplicates it at
//   once, on the event loop (F_DUPFD_CLOEXEC), before the work is queued. The
//   worker uses only that duplicate and closes it. The number the caller read
//   may be reused by the next accept the moment the socket closes; the dup
//   still names the right socket (or a dead one: harmless).
// - The three pipes are made on the worker with O_CLOEXEC; the child's ends
//   are closed before the work completes; the parent's ends go to JS, which
//   owns them from then on.
// - The pidfd is owned by the reaper below and closed once the child is reaped.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
  int socket_fd;  // a dup owned by this request (-1: pipe mode)
  bool stdin_null;
  int32_t nice;
  int32_t uid, gid;  // -1: keep porta's user
  volatile int child_errno;  // written by the vfork child before it gives up
  const char* volatile child_step;
  int in[2], out[2], err[2];
  pid_t pid;
  int pidfd;
  int failed_errno;
  const char* failed_what;
} request_t;

static void request_free(napi_env env, request_t* q) {
  if (q->socket_fd >= 0) close(q->socket_fd);
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

// The vfork child. It runs on the worker thread's stack with the parent's
// memory until it execs, so: no malloc, no locks, no return from here, and
// only system calls that act on this process alone. glibc's setuid() and
// friends would broadcast to every thread of *Node* (its setxid protocol),
// so the ids change through raw syscalls, which act on this process only.
static void spawn_child(request_t* q) {
  // Node ignores SIGPIPE, and ignored signals survive exec: every signal goes
  // back to its default, then the mask (all blocked, see spawn_execute) is emptied.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);  // EINVAL for KILL/STOP/internal: fine

  // Its own process group, so a timeout can signal everything it started.
  if (setpgid(0, 0) != 0) goto fail_setpgid;
  int in_fd = q->stdin_null ? open("/dev/null", O_RDONLY | O_CLOEXEC) : q->in[0];
  if (in_fd < 0) goto fail_stdin;
  if (dup2(in_fd, 0) < 0) goto fail_stdin;
  if (dup2(q->socket_fd >= 0 ? q->socket_fd : q->out[1], 1) < 0) goto fail_stdout;
  if (dup2(q->err[1], 2) < 0) goto fail_stderr;
  if (chdir(q->cwd) != 0) goto fail_chdir;
  // A lower priority for the program (and what it starts): best effort.
  if (q->nice > 0) setpriority(PRIO_PROCESS, 0, q->nice);
  if (q->uid >= 0) {
    // Never as root: groups first, then the group, then the user (after
    // which nothing could be changed back).
    if (syscall(SYS_setgroups, 0, NULL) != 0) goto fail_ids;
    if (syscall(SYS_setresgid, q->gid, q->gid, q->gid) != 0) goto fail_ids;
    if (syscall(SYS_setresuid, q->uid, q->uid, q->uid) != 0) goto fail_ids;
  }
  // If porta dies, its programs die with it (set after the id change, which clears it).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t none;
  sigemptyset(&none);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);
  execve(q->program, q->argv, q->envp);
  q->child_step = q->program;
  goto fail;
fail_setpgid:
  q->child_step = "setpgid";
  goto fail;
fail_stdin:
  q->child_step = "stdin";
  goto fail;
fail_stdout:
  q->child_step = "stdout";
  goto fail;
fail_stderr:
  q->child_step = "stderr";
  goto fail;
fail_chdir:
  q->child_step = "chdir";
  goto fail;
fail_ids:
  q->child_step = "setuid";
fail:
  q->child_errno = errno;
  _exit(127);
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
    // The flag lives on the file description the socket and the program
    // share: a CGI program expects a blocking stdout. porta puts it back
    // (uv_stream_set_blocking) once the program is done with the socket.
    int flags = fcntl(q->socket_fd, F_GETFL);
    if (flags < 0 || fcntl(q->socket_fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      q->failed_errno = errno, q->failed_what = "fcntl";
      return;
    }
  }
  // No signal handler may run in the child while it shares our memory.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  q->child_errno = 0;
  q->child_step = NULL;
  pid_t pid = vfork();
  if (pid == 0) spawn_child(q);  // never returns
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    q->failed_errno = vfork_errno, q->failed_what = "vfork";
    return;
  }
  if (q->child_step != NULL) {
    // The child gave up before or at exec: reap it here, report why.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    q->failed_errno = q->child_errno, q->failed_what = q->child_step;
    return;
  }
  q->pid = pid;
  // The child holds its ends now.
  if (q->in[0] >= 0) close(q->in[0]), q->in[0] = -1;
  if (q->out[1] >= 0) close(q->out[1]), q->out[1] = -1;
  close(q->err[1]), q->err[1] = -1;
  if (q->socket_fd >= 0) close(q->socket_fd), q->socket_fd = -1;
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

// spawn(program, args[], env[], cwd, stdinNull, stdoutFd, nice, uid, gid,
//       onSpawn(err, [pid, stdinFd | -1, stdoutFd | -1, stderrFd]), onExit(code, signal))
// stdoutFd: -1 for a pipe, else a socket fd borrowed for this call only.
// uid, gid: -1 to keep porta's own.
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value args[11];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 11) {
    napi_throw_type_error(env, NULL, "spawn(program, args, env, cwd, stdinNull, stdoutFd, nice, uid, gid, onSpawn, onExit)");
    return NULL;
  }
  request_t* q = calloc(1, sizeof *q);
  q->in[0] = q->in[1] = q->out[0] = q->out[1] = q->err[0] = q->err[1] = -1;
  q->pidfd = -1;
  q->socket_fd = -1;
  int32_t borrowed = -1;
  if (napi_get_value_bool(env, args[4], &q->stdin_null) != napi_ok || napi_get_value_int32(env, args[5], &borrowed) != napi_ok ||
      napi_get_value_int32(env, args[6], &q->nice) != napi_ok || napi_get_value_int32(env, args[7], &q->uid) != napi_ok ||
      napi_get_value_int32(env, args[8], &q->gid) != napi_ok || get_string(env, args[0], &q->program) != 0 ||
      get_string(env, args[3], &q->cwd) != 0 || (q->argv = get_vector(env, args[1], q->program)) == NULL ||
      (q->envp = get_vector(env, args[2], NULL)) == NULL) {
    request_free(env, q);
    napi_throw_type_error(env, NULL, "porta_spawn: bad arguments");
    return NULL;
  }
  // Own the fd before anything is queued (see the top): from here on only the dup is used.
  if (borrowed >= 0 && (q->socket_fd = fcntl(borrowed, F_DUPFD_CLOEXEC, 3)) < 0) {
    int err = errno;
    request_free(env, q);
    napi_throw(env, errno_error(env, "dup of the client socket", err));
    return NULL;
  }
  napi_create_reference(env, args[9], 1, &q->on_spawn);
  napi_create_reference(env, args[10], 1, &q->on_exit);
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

// lookupUser(name) → [uid, gid] or null: the passwd entry, on the loop
// thread at start-up (getpwnam_r may read files or ask NSS).
static napi_value LookupUser(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  char* name = NULL;
  if (argc < 1 || get_string(env, args[0], &name) != 0) {
    free(name);
    napi_throw_type_error(env, NULL, "lookupUser(name)");
    return NULL;
  }
  struct passwd pw, *found = NULL;
  char buffer[16384];
  int rc = getpwnam_r(name, &pw, buffer, sizeof buffer, &found);
  free(name);
  if (rc != 0 || found == NULL) {
    napi_get_null(env, &result);
    return result;
  }
  napi_value uid, gid;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, (int32_t)found->pw_uid, &uid);
  napi_create_int32(env, (int32_t)found->pw_gid, &gid);
  napi_set_element(env, result, 0, uid);
  napi_set_element(env, result, 1, gid);
  return result;
}

// ---- sendfile(2): a static file's body straight from the page cache ----------
//
// Why on the event loop, not on a worker thread: a worker would sit in poll()
// for as long as a slow client takes, and libuv's pool has four threads shared
// with fs calls and the spawns above: four slow downloads would stall every
// file open and every CGI start. Here the loop watches the socket (a uv_poll
// on our dup) and each time it can take more, sendfile(2) moves what fits in
// the socket buffer, non-blocking, at most `turn` bytes per loop turn so that
// one fast client never starves the others. That is lighttpd's way (one
// process, sendfile on writability), and it costs the loop less than the
// streaming path did: one in-kernel copy instead of a read into a buffer and
// a write out of it. A slow reader holds no memory: only the kernel's socket
// buffer.
//
// Fd ownership, as for spawn above: the socket fd is borrowed for the call
// only and duplicated at once (F_DUPFD_CLOEXEC), on the event loop; the file
// fd likewise. The job uses only its dups and closes them when it ends (done,
// failed, timed out or cancelled). The uv_poll handle is stopped (which
// removes the dup from epoll) before the dup is closed. libuv, not this job,
// owns the original socket fd: Node writes nothing while the job runs (the
// exchange lends the socket, see src/net/exchange.ts lendBody) and the job
// never touches the original number.
//
// The send timeout: the job fails with ETIMEDOUT when no byte went out for
// timeout_ms (the client stopped reading).

typedef struct sendfile_job {
  uv_poll_t poll;
  uv_timer_t timer;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int socket_fd;  // our dup (-1 once closed)
  int file_fd;    // our dup (-1 once closed)
  int64_t offset;
  int64_t remaining;
  int64_t sent;
  size_t turn;  // bytes at most per writable event
  uint64_t timeout_ms;
  uint64_t progress_at;  // uv_now() of the last byte sent
  bool active;
  bool corked;  // TCP_CORK set by the job, cleared when it stops
  int refs;  // the JS external + the two handles: freed at 0
} sendfile_job_t;

static void job_unref(sendfile_job_t* job) {
  if (--job->refs == 0) free(job);
}

static void job_handle_closed(uv_handle_t* handle) { job_unref((sendfile_job_t*)handle->data); }

static void job_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  job_unref((sendfile_job_t*)data);
}

// Stop watching, close the dups. The handles close (and drop their refs) on a later turn.
static void job_stop(sendfile_job_t* job) {
  if (!job->active) return;
  job->active = false;
  uv_close((uv_handle_t*)&job->poll, job_handle_closed);  // stops it: the dup leaves epoll here
  uv_close((uv_handle_t*)&job->timer, job_handle_closed);
  if (job->corked) {
    int zero = 0;
    setsockopt(job->socket_fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);  // the tail goes out now
  }
  close(job->socket_fd), job->socket_fd = -1;
  close(job->file_fd), job->file_fd = -1;
}

static void job_forget_callback(sendfile_job_t* job) {
  if (job->callback == NULL) return;
  napi_delete_reference(job->env, job->callback);
  napi_async_destroy(job->env, job->context);
  job->callback = NULL;
}

// The job is over: release everything, then tell JS onDone(err | null, sent).
static void job_finish(sendfile_job_t* job, int err) {
  job_stop(job);
  napi_env env = job->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2], callback, global, ignored;
  if (err == 0) {
    napi_get_null(env, &argv[0]);
  } else {
    char message[128];
    const char* name = err == -1 ? "EOF" : uv_err_name(-err);
    snprintf(message, sizeof message, "sendfile: %s", err == -1 ? "the file ended early" : strerror(err));
    napi_value msg, code;
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &argv[0]);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_set_named_property(env, argv[0], "code", code);
  }
  napi_create_double(env, (double)job->sent, &argv[1]);
  napi_get_reference_value(env, job->callback, &callback);
  napi_get_global(env, &global);
  napi_async_context context = job->context;
  napi_ref ref = job->callback;
  job->callback = NULL;
  napi_status status = napi_make_callback(env, context, global, callback, 2, argv, &ignored);
  napi_delete_reference(env, ref);
  napi_async_destroy(env, context);
  if (status == napi_pending_exception) {
    // The callback threw (porta wraps it so that it cannot): as for any I/O callback in Node.
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static void on_writable(uv_poll_t* handle, int status, int events) {
  (void)events;
  sendfile_job_t* job = handle->data;
  if (!job->active) return;
  if (status < 0) {
    // libuv reports EPOLLERR as UV_EBADF (and stops the handle): the socket's own error says more.
    int pending = 0;
    socklen_t size = sizeof pending;
    if (getsockopt(job->socket_fd, SOL_SOCKET, SO_ERROR, &pending, &size) != 0 || pending == 0) pending = EPIPE;
    return job_finish(job, pending);
  }
  size_t budget = job->turn;
  int64_t before = job->sent;
  int err = 0;
  while (job->remaining > 0 && budget > 0) {
    size_t want = (size_t)job->remaining < budget ? (size_t)job->remaining : budget;
    off_t offset = (off_t)job->offset;
    ssize_t n = sendfile(job->socket_fd, job->file_fd, &offset, want);
    if (n > 0) {
      job->offset += n, job->remaining -= n, job->sent += n;
      budget -= (size_t)n;
      continue;
    }
    if (n == 0) {
      err = -1;  // the file is shorter than it was when stat'ed
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) err = errno;
    break;  // EAGAIN: the socket buffer is full, wait for the next writable event
  }
  if (job->sent > before) job->progress_at = uv_now(handle->loop);
  if (err != 0) return job_finish(job, err);
  if (job->remaining == 0) return job_finish(job, 0);
}

static void on_stall_check(uv_timer_t* handle) {
  sendfile_job_t* job = handle->data;
  if (!job->active) return;
  uint64_t idle = uv_now(handle->loop) - job->progress_at;
  if (idle >= job->timeout_ms) return job_finish(job, ETIMEDOUT);
  uv_timer_start(&job->timer, on_stall_check, job->timeout_ms - idle, 0);
}

// sendfile(socketFd, fileFd, offset, length, timeoutMs, turnBytes, onDone(err, sent)) → job
// Both fds are borrowed for this call only: duplicated before it returns.
// onDone runs once, on a later turn, unless the job is cancelled first.
static napi_value Sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t socket_fd = -1, file_fd = -1;
  int64_t offset = 0, length = 0;
  double timeout_ms = 0, turn = 0;
  napi_valuetype type = napi_undefined;
  if (argc < 7 || napi_get_value_int32(env, args[0], &socket_fd) != napi_ok ||
      napi_get_value_int32(env, args[1], &file_fd) != napi_ok || napi_get_value_int64(env, args[2], &offset) != napi_ok ||
      napi_get_value_int64(env, args[3], &length) != napi_ok || napi_get_value_double(env, args[4], &timeout_ms) != napi_ok ||
      napi_get_value_double(env, args[5], &turn) != napi_ok || napi_typeof(env, args[6], &type) != napi_ok ||
      type != napi_function || socket_fd < 0 || file_fd < 0 || offset < 0 || length <= 0 || timeout_ms < 1 ||
      turn < 4096) {
    napi_throw_type_error(env, NULL, "sendfile(socketFd, fileFd, offset, length > 0, timeoutMs, turnBytes, onDone)");
    return NULL;
  }
  sendfile_job_t* job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw(env, errno_error(env, "sendfile job", ENOMEM));
    return NULL;
  }
  // Own both fds before anything else (see above): from here on only the dups are used.
  job->socket_fd = fcntl(socket_fd, F_DUPFD_CLOEXEC, 3);
  job->file_fd = job->socket_fd < 0 ? -1 : fcntl(file_fd, F_DUPFD_CLOEXEC, 3);
  if (job->file_fd < 0) {
    int err = errno;
    if (job->socket_fd >= 0) close(job->socket_fd);
    free(job);
    napi_throw(env, errno_error(env, "sendfile: dup", err));
    return NULL;
  }
  uv_loop_t* loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &job->poll, job->socket_fd);
  if (rc != 0) {
    close(job->socket_fd);
    close(job->file_fd);
    free(job);
    napi_throw(env, errno_error(env, "sendfile: uv_poll_init", -rc));
    return NULL;
  }
  uv_timer_init(loop, &job->timer);
  job->poll.data = job;
  job->timer.data = job;
  job->env = env;
  job->offset = offset;
  job->remaining = length;
  job->timeout_ms = (uint64_t)timeout_ms;
  job->turn = turn > 1073741824.0 ? 1073741824 : (size_t)turn;
  job->progress_at = uv_now(loop);
  job->active = true;
  job->refs = 3;
  napi_value resource_name, external;
  napi_create_string_utf8(env, "porta:sendfile", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &job->context);
  napi_create_reference(env, args[6], 1, &job->callback);
  if (napi_create_external(env, job, job_finalize, NULL, &external) != napi_ok) {
    job_forget_callback(job);
    job->refs--;  // no external will be finalized
    job_stop(job);
    napi_throw_error(env, NULL, "porta_sendfile: N-API call failed");
    return NULL;
  }
  // Corked while the job runs (lighttpd does the same around its sendfile):
  // only full segments go out, and the end of each call waits for the next
  // instead of leaving as a small packet; job_stop uncorks, which sends the
  // tail. Measured on W3: ~5-10 % more throughput for the client. Not TCP
  // (a unix socket from systemd): simply not corked.
  int one = 1;
  job->corked = setsockopt(job->socket_fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0;
  uv_poll_start(&job->poll, UV_WRITABLE, on_writable);
  uv_timer_start(&job->timer, on_stall_check, job->timeout_ms, 0);
  return external;
}

// sendfileCancel(job) → bytes sent so far. The job stops at once, its dups are
// closed, and onDone is never called. A job already over: nothing happens.
static napi_value SendfileCancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1], result;
  void* data = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, args[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "sendfileCancel(job)");
    return NULL;
  }
  sendfile_job_t* job = data;
  job_stop(job);
  job_forget_callback(job);
  napi_create_double(env, (double)job->sent, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  napi_create_function(env, "killGroup", NAPI_AUTO_LENGTH, KillGroup, NULL, &fn);
  napi_set_named_property(env, exports, "killGroup", fn);
  napi_create_function(env, "lookupUser", NAPI_AUTO_LENGTH, LookupUser, NULL, &fn);
  napi_set_named_property(env, exports, "lookupUser", fn);
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, Sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  napi_create_function(env, "sendfileCancel", NAPI_AUTO_LENGTH, SendfileCancel, NULL, &fn);
  napi_set_named_property(env, exports, "sendfileCancel", fn);
  return exports;
}
