// Starting a program: pipes, vfork, the child's steps, exec. Runs on a libuv
// worker thread (see porta_spawn.c for why not on the event loop), and
// touches nothing of Node's: only the spawn_t it is given. Where clone.c's
// start without waiting cannot be used, this is how programs start.
//
// Why vfork: Node's child_process.spawn forks the whole Node process (copying
// its page tables) and blocks the event loop until exec. vfork(2) (clone with
// CLONE_VM | CLONE_VFORK, what glibc's posix_spawn uses) copies nothing: the
// child borrows the parent's memory until it execs. posix_spawn itself cannot
// change the user, so the child's steps are written out here: only raw system
// calls between vfork and exec (see spawn_child).

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "porta.h"

// The child's last act when a step fails: say which and why (the parent reads
// both once vfork returns), and exit.
#define GIVE_UP(step)            \
  do {                           \
    s->child_step = (step);      \
    s->child_errno = errno;      \
    _exit(127);                  \
  } while (0)

// The vfork child. It runs on the worker's stack with the parent's memory
// until it execs, so: no malloc, no locks, no return from here, and only
// system calls that act on this process alone. glibc's setuid() and friends
// would broadcast to every thread of *Node* (its setxid protocol), so the ids
// change through raw syscalls, which act on this process only.
static void spawn_child(spawn_t* s) {
  // Node ignores SIGPIPE, and ignored signals survive exec; Node's handlers
  // must not run here once the mask is emptied: every signal goes back to its
  // default, then the mask (all blocked, see spawn_run) is emptied.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);  // EINVAL for KILL/STOP/internal: fine

  // Its own process group, so a timeout can signal everything it started.
  if (setpgid(0, 0) != 0) GIVE_UP("setpgid");
  if (dup2(s->child_fds[0], 0) < 0) GIVE_UP("stdin");
  if (dup2(s->child_fds[1], 1) < 0) GIVE_UP("stdout");
  if (dup2(s->child_fds[2], 2) < 0) GIVE_UP("stderr");
  // Nothing else of porta's: what it inherited without O_CLOEXEC (from its
  // own parent) would reach the program. ENOSYS before Linux 5.9: left as is.
#ifdef SYS_close_range
  syscall(SYS_close_range, 3, ~0U, 0);
#endif
  if (chdir(s->cwd) != 0) GIVE_UP("chdir");
  // A lower priority for the program (and what it starts): best effort.
  if (s->nice > 0) setpriority(PRIO_PROCESS, 0, s->nice);
  if (s->uid >= 0) {
    // Never as root: groups first, then the group, then the user (after
    // which nothing could be changed back).
    if (syscall(SYS_setgroups, 0, NULL) != 0) GIVE_UP("setuid");
    if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) != 0) GIVE_UP("setuid");
    if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) != 0) GIVE_UP("setuid");
  }
  // If porta dies, its programs die with it (set after the id change, which
  // clears it); if it died before that, the child is an orphan already.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != s->parent) {
    errno = ESRCH;
    GIVE_UP("porta is gone");
  }
  sigset_t none;
  sigemptyset(&none);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);
  execve(s->program, s->argv, s->envp);
  GIVE_UP(s->program);
}

static void close_fd(int* fd) {
  if (*fd >= 0) close(*fd), *fd = -1;
}

static void failed(spawn_t* s, const char* what, int err) {
  s->pid = -1;
  s->failed_what = what;
  s->failed_errno = err;
}

int spawn_pipes(spawn_t* s) {
  if ((!s->stdin_null && pipe2(s->in, O_CLOEXEC) != 0) || (s->socket_fd < 0 && pipe2(s->out, O_CLOEXEC) != 0) ||
      pipe2(s->err, O_CLOEXEC) != 0) {
    failed(s, "pipe2", errno);
    return -1;
  }
  // Our end of stderr is read only when epoll says so; non-blocking all the
  // same, so that no surprise can ever stall the loop (the child's end, a
  // separate file description, stays blocking).
  if (fcntl(s->err[0], F_SETFL, O_NONBLOCK) != 0) {
    failed(s, "fcntl", errno);
    return -1;
  }
  if (s->socket_fd >= 0) {
    // The flag lives on the file description the socket and the program
    // share: a CGI program expects a blocking stdout. porta puts it back
    // (uv_stream_set_blocking) once the program is done with the socket.
    int flags = fcntl(s->socket_fd, F_GETFL);
    if (flags < 0 || fcntl(s->socket_fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      failed(s, "fcntl", errno);
      return -1;
    }
  }
  s->child_fds[0] = s->stdin_null ? s->devnull : s->in[0];
  s->child_fds[1] = s->socket_fd >= 0 ? s->socket_fd : s->out[1];
  s->child_fds[2] = s->err[1];
  return 0;
}

void spawn_close_child_ends(spawn_t* s) {
  close_fd(&s->in[0]);
  close_fd(&s->out[1]);
  close_fd(&s->err[1]);
  close_fd(&s->socket_fd);
}

void spawn_run(spawn_t* s) {
  if (spawn_pipes(s) != 0) return;
  // No signal handler may run in the child while it shares our memory.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  s->child_errno = 0;
  s->child_step = NULL;
  pid_t pid = vfork();
  if (pid == 0) spawn_child(s);  // never returns
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) return failed(s, "vfork", vfork_errno);
  if (s->child_step != NULL) {
    // The child gave up before or at exec: reap it here (it has exited:
    // vfork returned), report why.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return failed(s, s->child_step, s->child_errno);
  }
  s->pid = pid;
  spawn_close_child_ends(s);  // the child holds its own now
  s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
}

void spawn_free(spawn_t* s) {
  if (s == NULL) return;
  for (int i = 0; i < 2; i++) close_fd(&s->in[i]), close_fd(&s->out[i]), close_fd(&s->err[i]);
  close_fd(&s->socket_fd);
  close_fd(&s->pidfd);
  free(s->strings);
  free(s->vectors);
  free(s->stack);
  free(s);
}
