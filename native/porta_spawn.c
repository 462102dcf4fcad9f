// porta_spawn: start a CGI program without forking Node's whole address
// space, as a user other than root (clone.c, else exec.c); watch its stderr
// and reap it through a pidfd from the event loop (watch.c). And send large
// static bodies with sendfile(2) (sendfile.c). This file is the module's
// entry point and spawn()'s JS side.
//
// Two ways to start, both sharing Node's memory until the program execs
// (nothing of Node's is copied):
// - clone.c (x86-64, Linux 5.5+): from the event loop, which goes on at once;
//   the child finishes its own start. A failed exec is reported at its exit.
// - exec.c elsewhere: vfork on a libuv worker thread, which waits until the
//   child has exec'd. Not vfork on the event loop: that wait is ≈ 60 µs on an
//   idle machine, but the child is a new task the scheduler may queue behind
//   every runnable program: with W4's 16 programs starting at once, a vfork
//   on the loop blocked it 0.7 ms (median) and left the CPUs 13 % idle.
//
// Fd ownership:
// - stdout_fd (socket mode) is the client socket's fd, borrowed from the
//   caller for the duration of the JS call only: Spawn() duplicates it at once,
//   on the event loop (F_DUPFD_CLOEXEC), before anything else. Only that dup is
//   used (the child dup2()s it onto its fd 1), and porta closes it once the
//   child has its copy. The number the caller read may be reused by the next
//   accept the moment the socket closes; the dup still names the right socket
//   (or a dead one: harmless).
// - The pipes are made with O_CLOEXEC (on the loop for clone.c, on the worker
//   for exec.c); the child's ends are closed in porta as soon as the child
//   has its own copies. The stdin and stdout ends go to JS, which owns them
//   from then on; the stderr end and the pidfd go to the watcher (watch.c),
//   which closes them at stderr's EOF and once the child is reaped.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "porta.h"

// A worker-thread start in flight: the libuv request, the spawn, the JS callbacks.
typedef struct job {
  uv_work_t work;
  spawn_t* s;
  napi_env env;
  napi_ref on_spawn, on_exit, on_stderr;
} job_t;

static void job_free(job_t* j) {
  spawn_free(j->s);
  napi_delete_reference(j->env, j->on_spawn);
  napi_delete_reference(j->env, j->on_exit);
  napi_delete_reference(j->env, j->on_stderr);
  free(j);
}

// Worker thread: no N-API here.
static void job_run(uv_work_t* work) {
  job_t* j = work->data;
  spawn_run(j->s);
}

// A started program porta cannot watch (no memory, no epoll): killed and
// reaped at once, so that none runs unwatched. Its spawn is then free to go.
static void abandon(spawn_t* s) {
  kill(s->pid, SIGKILL);
  int status;
  while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// [pid, stdinFd, stdoutFd] for JS, which owns the two fds from here.
static napi_value started(napi_env env, spawn_t* s) {
  napi_value result;
  int32_t values[3] = {s->pid, s->in[1], s->out[0]};
  s->in[1] = s->out[0] = -1;
  napi_create_array_with_length(env, 3, &result);
  for (uint32_t i = 0; i < 3; i++) {
    napi_value v;
    napi_create_int32(env, values[i], &v);
    napi_set_element(env, result, i, v);
  }
  return result;
}

// Loop thread: start watching the child, then tell JS onSpawn(err, [pid, stdinFd, stdoutFd]).
static void job_done(uv_work_t* work, int status) {
  job_t* j = work->data;
  napi_env env = j->env;
  spawn_t* s = j->s;
  if (status == UV_ECANCELED && s->failed_what == NULL) s->pid = -1, s->failed_what = "spawn", s->failed_errno = ECANCELED;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2], callback, on_exit, on_stderr;
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  if (s->pid < 0) {
    argv[0] = errno_error(env, s->failed_what, s->failed_errno);
  } else {
    napi_get_reference_value(env, j->on_exit, &on_exit);
    napi_get_reference_value(env, j->on_stderr, &on_stderr);
    if (watch_child(env, s->pid, s->pidfd, s->err[0], on_exit, on_stderr, NULL) == 0) {
      s->pidfd = s->err[0] = -1;  // the watcher's now
      argv[1] = started(env, s);
    } else {
      abandon(s);
      argv[0] = errno_error(env, "watching the program", ENOMEM);
    }
  }
  napi_get_reference_value(env, j->on_spawn, &callback);
  job_free(j);
  call_js(env, callback, 2, argv);
  napi_close_handle_scope(env, scope);
}

// A block's entries: each ends with a NUL (the string's own terminator ends
// the last one if JS left it out). Counted and listed by the same walk.
static size_t entries(char* block, size_t length, char** into) {
  size_t n = 0;
  for (char *p = block, *end = block + length; p < end; p += strlen(p) + 1) {
    if (into != NULL) into[n] = p;
    n++;
  }
  return n;
}

// Strings from JS: program, cwd, and argv and env as blocks of NUL-terminated
// entries ("a\0b\0"), copied into one allocation, with one for both vectors.
static int get_strings(napi_env env, napi_value program, napi_value args, napi_value envs, napi_value cwd, spawn_t* s) {
  napi_value values[4] = {program, args, envs, cwd};
  size_t lengths[4], total = 0;
  for (int i = 0; i < 4; i++) {
    if (napi_get_value_string_utf8(env, values[i], NULL, 0, &lengths[i]) != napi_ok) return -1;
    total += lengths[i] + 1;
  }
  char* at = s->strings = malloc(total);
  if (at == NULL) return -1;
  char* starts[4];
  for (int i = 0; i < 4; i++) {
    if (napi_get_value_string_utf8(env, values[i], at, lengths[i] + 1, &lengths[i]) != napi_ok) return -1;
    starts[i] = at;
    at += lengths[i] + 1;
  }
  // argv: the program, then the args block's entries; envp: the env block's.
  size_t nargs = entries(starts[1], lengths[1], NULL), nenv = entries(starts[2], lengths[2], NULL);
  char** v = s->vectors = malloc((nargs + 2 + nenv + 1) * sizeof(char*));
  if (v == NULL) return -1;
  s->program = starts[0];
  s->cwd = starts[3];
  s->argv = v;
  v[0] = starts[0];
  entries(starts[1], lengths[1], v + 1);
  v[nargs + 1] = NULL;
  s->envp = v + nargs + 2;
  entries(starts[2], lengths[2], s->envp);
  s->envp[nenv] = NULL;
  return 0;
}

// spawn(program, argsBlock, envBlock, cwd, stdinNull, stdoutFd, nice, uid, gid,
//       onSpawn(err, [pid, stdinFd | -1, stdoutFd | -1]), onExit(code, signal, notStarted), onStderr(chunk | null))
//   → [pid, stdinFd, stdoutFd] when the program was started within the call
//     (clone.c: onSpawn is not called, and a failed exec is onExit's
//     notStarted, an Error), else undefined (exec.c on a worker: onSpawn
//     follows, with an Error whose .code is ENOENT, EACCES, … if it failed).
// argsBlock/envBlock: each entry followed by a NUL ("" for none). stdoutFd: -1
// for a pipe, else a socket fd borrowed for this call only. uid, gid: -1 to
// keep porta's own. onStderr(null) comes after the last chunk, only if one came.
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value args[12];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  addon_state_t* state = NULL;
  CHECK(napi_get_instance_data(env, (void**)&state));
  spawn_t* s = calloc(1, sizeof *s);
  if (s == NULL) {
    napi_throw(env, errno_error(env, "spawn", ENOMEM));
    return NULL;
  }
  s->in[0] = s->in[1] = s->out[0] = s->out[1] = s->err[0] = s->err[1] = -1;
  s->socket_fd = s->pidfd = -1;
  s->devnull = state->devnull;
  s->ignored = state->ignored;
  s->parent = state->pid;
  int32_t borrowed = -1;
  if (argc < 12 || napi_get_value_bool(env, args[4], &s->stdin_null) != napi_ok ||
      napi_get_value_int32(env, args[5], &borrowed) != napi_ok || napi_get_value_int32(env, args[6], &s->nice) != napi_ok ||
      napi_get_value_int32(env, args[7], &s->uid) != napi_ok || napi_get_value_int32(env, args[8], &s->gid) != napi_ok ||
      get_strings(env, args[0], args[1], args[2], args[3], s) != 0) {
    spawn_free(s);
    napi_throw_type_error(env, NULL,
                          "spawn(program, argsBlock, envBlock, cwd, stdinNull, stdoutFd, nice, uid, gid, onSpawn, onExit, onStderr)");
    return NULL;
  }
  if (s->stdin_null && s->devnull < 0) {
    spawn_free(s);
    napi_throw(env, errno_error(env, "/dev/null", ENOENT));
    return NULL;
  }
  // Own the fd before anything else (see the top): from here on only the dup is used.
  if (borrowed >= 0 && (s->socket_fd = fcntl(borrowed, F_DUPFD_CLOEXEC, 3)) < 0) {
    int err = errno;
    spawn_free(s);
    napi_throw(env, errno_error(env, "dup of the client socket", err));
    return NULL;
  }
  if (state->direct) {
    int rc = spawn_direct(s);
    if (rc <= 0) {
      if (rc < 0) {
        napi_value error = errno_error(env, s->failed_what, s->failed_errno);
        spawn_free(s);
        napi_throw(env, error);
        return NULL;
      }
      if (watch_child(env, s->pid, s->pidfd, s->err[0], args[10], args[11], s) != 0) {
        abandon(s);
        spawn_free(s);
        napi_throw(env, errno_error(env, "watching the program", ENOMEM));
        return NULL;
      }
      s->pidfd = s->err[0] = -1;  // the watcher's now, and s with them
      return started(env, s);
    }
    // clone3 cannot be used here: this start and every later one go to a worker.
    state->direct = false;
    spawn_free(s);
    return Spawn(env, info);
  }
  job_t* j = calloc(1, sizeof *j);
  if (j == NULL) {
    spawn_free(s);
    napi_throw(env, errno_error(env, "spawn", ENOMEM));
    return NULL;
  }
  j->s = s;
  j->env = env;
  napi_create_reference(env, args[9], 1, &j->on_spawn);
  napi_create_reference(env, args[10], 1, &j->on_exit);
  napi_create_reference(env, args[11], 1, &j->on_stderr);
  uv_loop_t* loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  j->work.data = j;
  int rc = uv_queue_work(loop, &j->work, job_run, job_done);
  if (rc != 0) {
    job_free(j);
    napi_throw(env, errno_error(env, "cannot queue the spawn", -rc));
  }
  return NULL;
}

napi_value errno_error(napi_env env, const char* what, int err) {
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

// becomeSubreaper() → 0 or errno. A program's descendants that outlive
// their parent (a double fork, setsid: out of its process group, out of
// killGroup's reach) are then re-parented to porta instead of init, where
// porta can find them, kill them past the timeout and reap them
// (src/cgi/orphans.ts). Called only by a serving process whose children are
// all the addon's programs.
static napi_value BecomeSubreaper(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  int rc = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno;
  napi_create_int32(env, rc, &result);
  return result;
}

// reapChild(pid) → 1 if the child `pid` was a zombie and is now reaped, 0 if
// it still runs, or -errno. For adopted processes only: a program started by
// the addon is reaped by its own pidfd watcher.
static napi_value ReapChild(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1], result;
  int32_t pid = 0;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, args[0], &pid) != napi_ok || pid <= 1) {
    napi_throw_type_error(env, NULL, "reapChild(pid > 1)");
    return NULL;
  }
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) == 0 ? (si.si_pid == pid ? 1 : 0) : -errno;
  napi_create_int32(env, rc, &result);
  return result;
}

// lookupUser(name) → [uid, gid] or null: the passwd entry, on the loop
// thread at start-up (getpwnam_r may read files or ask NSS).
static napi_value LookupUser(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  char name[256];
  size_t length = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, args[0], name, sizeof name, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "lookupUser(name)");
    return NULL;
  }
  struct passwd pw, *found = NULL;
  char buffer[16384];
  // A name that did not fit is no user's (rather than a shorter name's).
  int rc = length >= sizeof name - 1 ? ENOENT : getpwnam_r(name, &pw, buffer, sizeof buffer, &found);
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

static void state_free(napi_env env, void* data, void* hint) {
  (void)hint;
  addon_state_t* state = data;
  napi_async_destroy(env, state->context);
  if (state->devnull >= 0) close(state->devnull);
  free(state);
}

static void export(napi_env env, napi_value exports, const char* name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

// The signals ignored now (a child must put them back to default), read once.
static uint64_t ignored_signals(void) {
  uint64_t mask = (1ULL << (SIGPIPE - 1)) | (1ULL << (SIGXFSZ - 1));
  for (int sig = 1; sig < 64 && sig < NSIG; sig++) {
    struct sigaction current;
    if (sigaction(sig, NULL, &current) == 0 && current.sa_handler == SIG_IGN) mask |= 1ULL << (sig - 1);
  }
  return mask;
}

NAPI_MODULE_INIT() {
  addon_state_t* state = calloc(1, sizeof *state);
  if (state == NULL) return NULL;
  state->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  state->ignored = ignored_signals();
  state->pid = getpid();  // a Node process never forks: read once, not a system call per program
  // PORTA_SPAWN_WORKER=1: every start on a worker thread (exec.c), as where
  // clone3 is missing; the tests run both ways.
  const char* worker = getenv("PORTA_SPAWN_WORKER");
  state->direct = worker == NULL || strcmp(worker, "1") != 0;
  napi_value resource, version;
  napi_create_string_utf8(env, "porta:cgi", NAPI_AUTO_LENGTH, &resource);
  napi_async_init(env, NULL, resource, &state->context);
  napi_set_instance_data(env, state, state_free, NULL);
  // spawn()'s interface, checked by src/cgi/launch-native.ts: 3 = NUL-separated
  // blocks, stderr read by the addon, [pid, stdinFd, stdoutFd] returned when
  // started within the call, else given to onSpawn.
  napi_create_int32(env, 3, &version);
  napi_set_named_property(env, exports, "spawnVersion", version);
  export(env, exports, "spawn", Spawn);
  export(env, exports, "killGroup", KillGroup);
  export(env, exports, "lookupUser", LookupUser);
  export(env, exports, "becomeSubreaper", BecomeSubreaper);
  export(env, exports, "reapChild", ReapChild);
  export(env, exports, "sendfile", Sendfile);
  export(env, exports, "sendfileCancel", SendfileCancel);
  export(env, exports, "watchHangup", WatchHangup);
  export(env, exports, "unwatchHangup", UnwatchHangup);
  export(env, exports, "acceptMany", AcceptMany);
  export(env, exports, "socketReset", SocketReset);
  return exports;
}
