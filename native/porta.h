// What the addon's files share: porta_spawn.c (the module's entry point and
// spawn() itself), clone.c (a start from the event loop without waiting),
// exec.c (pipes, and the vfork start on a libuv worker thread where clone.c
// cannot be used), watch.c (a running program's exit and stderr, on the
// event loop), sendfile.c (static bodies by sendfile(2)) and accept.c (the
// connections waiting on a listening socket, taken in one turn).

#ifndef PORTA_H
#define PORTA_H

#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

// An N-API call that fails throws and returns from the calling function.
#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "porta_spawn: N-API call failed");  \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

// Per Node environment (a worker_thread loading the addon gets its own).
typedef struct addon_state {
  // Every spawn, exit and stderr callback runs under this one async resource:
  // porta tracks no async context, and a resource per program cost an init
  // and a destroy each.
  napi_async_context context;
  // /dev/null, opened once (O_CLOEXEC): the stdin of a program given no body.
  int devnull;
  // Signals porta ignores (bit sig - 1), read once at load: they would
  // survive exec, so the child resets them (SIGPIPE and SIGXFSZ, from Node).
  uint64_t ignored;
  pid_t pid;  // porta's
  // clone.c's start is used until it reports clone3 unusable here.
  bool direct;
  // watch.c's epoll set (made at the first program).
  struct watcher* watcher;
  // stderr is read here (loop thread only) and copied into a Buffer.
  char buffer[16384];
} addon_state_t;

// One program start: its inputs, filled on the loop thread, then what the
// start did. Freed by spawn_free: after a worker-thread start once it is
// reported; after a direct start once the child has been reaped (its
// strings and stack are in use until it has exec'd).
typedef struct spawn {
  char* strings;  // one allocation: program, cwd, argv, envp point into it
  char** vectors;  // argv then envp, one allocation
  char* stack;  // the direct child's stack (clone.c)
  volatile int32_t tid;  // zeroed by the kernel when the direct child lets go of our memory
  uint64_t ignored;
  const char* program;
  const char* cwd;
  char** argv;
  char** envp;
  int socket_fd;  // our dup of the client socket (-1: pipe mode)
  int devnull;
  bool stdin_null;
  int32_t nice;
  int32_t uid, gid;  // -1: keep porta's user
  pid_t parent;      // porta's pid, which the child checks is still its parent
  int in[2], out[2], err[2];
  // What the child dup2()s onto 0, 1 and 2: copies, because porta closes (and
  // forgets) its own numbers while a direct child may still be reading.
  int child_fds[3];
  volatile int child_errno;  // written by the vfork child before it gives up
  const char* volatile child_step;
  // Results: the pid and pidfd, or pid -1 with the failed step and its errno.
  pid_t pid;
  int pidfd;
  const char* failed_what;
  int failed_errno;
} spawn_t;

// clone.c: start the program from the loop without waiting for its exec.
// 0: started (s->pid, s->pidfd); -1: failed (failed_what, failed_errno);
// 1: clone3 cannot be used here (use spawn_run, from now on).
int spawn_direct(spawn_t* s);
// exec.c: pipes, vfork, exec (a worker thread). Sets s->pid (and s->pidfd),
// or s->pid = -1 with failed_what/failed_errno; closes the child's ends.
void spawn_run(spawn_t* s);
// exec.c: the pipes (and the socket made blocking): 0, or -1 with failed_*.
int spawn_pipes(spawn_t* s);
// exec.c: the child's ends of the pipes and the socket dup, closed in porta.
void spawn_close_child_ends(spawn_t* s);
// exec.c: every fd the spawn still holds closed, its memory freed.
void spawn_free(spawn_t* s);

// watch.c: the program's exit (pidfd) and stderr watched on the loop. On
// success (0) the watcher owns pidfd and err_fd from here, and `direct` (a
// direct start's spawn, or NULL), freed once the child is reaped; on failure
// (-1: no memory, no epoll) nothing was taken.
int watch_child(napi_env env, pid_t pid, int pidfd, int err_fd, napi_value exit_cb, napi_value stderr_cb,
                spawn_t* direct);

// A JS callback from a libuv callback (a handle scope must be open).
void call_js(napi_env env, napi_value callback, size_t argc, napi_value* argv);

// An Error with .errno and .code (ENOENT, EACCES, ENOEXEC, else ESPAWN) for `what: strerror(err)`.
napi_value errno_error(napi_env env, const char* what, int err);

// watch.c: socket mode's one-shot watch for a client reset (watchHangup,
// unwatchHangup), in the same epoll set as the programs.
napi_value WatchHangup(napi_env env, napi_callback_info info);
napi_value UnwatchHangup(napi_env env, napi_callback_info info);

napi_value Sendfile(napi_env env, napi_callback_info info);

// accept.c
napi_value AcceptMany(napi_env env, napi_callback_info info);
napi_value SocketReset(napi_env env, napi_callback_info info);
napi_value SendfileCancel(napi_env env, napi_callback_info info);

#endif
