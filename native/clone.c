// Starting a program without waiting for it: clone3(CLONE_VM) from the event
// loop, where exec.c's vfork makes a worker thread wait until the child has
// exec'd. x86-64 Linux 5.5+ only; elsewhere (or where a seccomp filter
// refuses clone3) spawn_direct says so and porta_spawn.c uses exec.c.
//
// Why: the worker-thread start costs a thread hand-off each way (a futex
// wake, an eventfd wake and a second JS callback), and the vfork child must
// reset all 64 signal handlers by hand. Here the loop makes the child and
// goes on at once; the kernel clears the handlers (CLONE_CLEAR_SIGHAND) and
// returns the pidfd (CLONE_PIDFD).
//
// The child shares Node's memory until it execs, *while Node runs*. So it
// touches only its own stack and its spawn_t (which nothing frees before
// the kernel says the child let go of our memory: CLONE_CHILD_CLEARTID zeroes
// s->tid at exec or exit, and porta frees the spawn once the child has been
// reaped), and of that only fields porta no longer writes (the fd numbers it
// closes are read from child_fds, copies made before clone3). It calls no libc: raw system calls only, because glibc's wrappers
// write errno, and errno here is the event loop's (the child inherits its
// thread pointer). Its file table is its own copy, made by clone3: the
// parent closes the child's ends as soon as clone3 returns.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "porta.h"

#if defined(__x86_64__) && defined(SYS_clone3)
#include <linux/sched.h>
#endif

#if defined(__x86_64__) && defined(SYS_clone3) && defined(CLONE_CLEAR_SIGHAND)

// A system call that returns -errno and never touches errno.
static inline long raw(long n, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}

// The kernel's struct sigaction (rt_sigaction), for SIG_DFL: no restorer needed.
struct kernel_sigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

static void __attribute__((noreturn)) give_up(spawn_t* s, const char* step, long rc) {
  s->child_step = step;
  s->child_errno = (int)-rc;
  for (;;) raw(SYS_exit_group, 127, 0, 0, 0);
}

// The child, on its own stack. The same steps as exec.c's spawn_child.
static void __attribute__((noreturn, used)) direct_child(spawn_t* s) {
  long rc;
  // Handlers are gone (CLONE_CLEAR_SIGHAND); ignored signals would survive exec.
  struct kernel_sigaction dfl = {SIG_DFL, 0, NULL, 0};
  for (int sig = 1; sig < 64; sig++) {
    if (s->ignored & (1ULL << (sig - 1))) raw(SYS_rt_sigaction, sig, (long)&dfl, 0, 8);
  }
  // Its own process group, so a timeout can signal everything it started.
  if ((rc = raw(SYS_setpgid, 0, 0, 0, 0)) < 0) give_up(s, "setpgid", rc);
  if ((rc = raw(SYS_dup2, s->child_fds[0], 0, 0, 0)) < 0) give_up(s, "stdin", rc);
  if ((rc = raw(SYS_dup2, s->child_fds[1], 1, 0, 0)) < 0) give_up(s, "stdout", rc);
  if ((rc = raw(SYS_dup2, s->child_fds[2], 2, 0, 0)) < 0) give_up(s, "stderr", rc);
  // Nothing else of porta's: what it inherited without O_CLOEXEC (from its
  // own parent) would reach the program. ENOSYS before Linux 5.9: left as is.
  raw(SYS_close_range, 3, ~0U, 0, 0);
  if ((rc = raw(SYS_chdir, (long)s->cwd, 0, 0, 0)) < 0) give_up(s, "chdir", rc);
  // A lower priority for the program (and what it starts): best effort.
  if (s->nice > 0) raw(SYS_setpriority, PRIO_PROCESS, 0, s->nice, 0);
  if (s->uid >= 0) {
    // Never as root: groups first, then the group, then the user.
    if ((rc = raw(SYS_setgroups, 0, 0, 0, 0)) < 0) give_up(s, "setuid", rc);
    if ((rc = raw(SYS_setresgid, s->gid, s->gid, s->gid, 0)) < 0) give_up(s, "setuid", rc);
    if ((rc = raw(SYS_setresuid, s->uid, s->uid, s->uid, 0)) < 0) give_up(s, "setuid", rc);
  }
  // If porta dies, its programs die with it (set after the id change, which
  // clears it); if it died before that, the child is an orphan already.
  raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0);
  if (raw(SYS_getppid, 0, 0, 0, 0) != s->parent) give_up(s, "porta is gone", -ESRCH);
  uint64_t none = 0;  // the loop thread's mask was inherited: the program starts with none
  raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
  rc = raw(SYS_execve, (long)s->program, (long)s->argv, (long)s->envp, 0);
  give_up(s, s->program, rc);
}

// clone3 with a stack of the child's own: the child calls direct_child(s)
// there and never comes back; the parent gets the pid (or -errno).
static long clone3_child(struct clone_args* args, spawn_t* s) {
  long ret;
  register long r10 __asm__("r10") = (long)direct_child;
  register long r8 __asm__("r8") = (long)s;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"  // the child: a fresh stack, no frame above
      "mov %%r8, %%rdi\n\t"
      "call *%%r10\n\t"
      "hlt\n"
      "1:\n\t"
      : "=a"(ret)
      : "0"((long)SYS_clone3), "D"(args), "S"(sizeof *args), "r"(r10), "r"(r8)
      : "rcx", "r11", "memory");
  return ret;
}

#define CHILD_STACK (16 * 1024)

int spawn_direct(spawn_t* s) {
  if (spawn_pipes(s) != 0) return -1;
  s->stack = malloc(CHILD_STACK);
  if (s->stack == NULL) {
    s->failed_what = "spawn", s->failed_errno = ENOMEM;
    return -1;
  }
  s->tid = -1;  // the kernel zeroes it when the child lets go of our memory
  s->child_step = NULL;
  s->child_errno = 0;
  int pidfd = -1;
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_VM | CLONE_CLEAR_SIGHAND | CLONE_PIDFD | CLONE_CHILD_CLEARTID;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.child_tid = (uint64_t)(uintptr_t)&s->tid;
  args.exit_signal = SIGCHLD;
  args.stack = (uint64_t)(uintptr_t)s->stack;
  args.stack_size = CHILD_STACK;
  long pid = clone3_child(&args, s);
  if (pid < 0) {
    // No clone3 (ENOSYS: old kernel or a seccomp filter), no CLONE_CLEAR_SIGHAND
    // (EINVAL), or refused (EPERM): the worker-thread start is used from now on.
    if (pid == -ENOSYS || pid == -EINVAL || pid == -EPERM) return 1;
    s->failed_what = "clone3", s->failed_errno = (int)-pid;
    return -1;
  }
  s->pid = (pid_t)pid;
  s->pidfd = pidfd;
  // The child makes its own process group, but it may not have run yet: made
  // here too (as shells do), a group kill sent the moment spawn() returns (a
  // client already gone) finds it. EACCES: it has exec'd, its group is made.
  setpgid(s->pid, s->pid);
  spawn_close_child_ends(s);  // the child has its own copies
  return 0;
}

#else

int spawn_direct(spawn_t* s) {
  (void)s;
  return 1;
}

#endif
