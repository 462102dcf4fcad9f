// sendfile(2) for porta's static files: a large body goes from the page cache
// to the client socket without passing through JavaScript. The module's entry
// point is in porta_spawn.c.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "porta.h"

// ---- sendfile(2): a static file's body straight from the page cache ----------
//
// Why on the event loop, not on a worker thread: a worker would sit in poll()
// for as long as a slow client takes, and libuv's pool has four threads shared
// with fs calls: four slow downloads would stall every file open. Here the loop
// watches the socket (a uv_poll on our dup) and each time it can take more,
// sendfile(2) moves what fits in the socket buffer, non-blocking, at most
// `turn` bytes per loop turn so that one fast client never starves the others.
// That is lighttpd's way (one process, sendfile on writability), and it costs
// the loop less than the streaming path did: one in-kernel copy instead of a
// read into a buffer and a write out of it. A slow reader holds no memory: only
// the kernel's socket buffer.
//
// Fd ownership, as for spawn (porta_spawn.c): the socket fd is borrowed for the
// call only and duplicated at once (F_DUPFD_CLOEXEC), on the event loop; the
// file fd likewise. The job uses only its dups and closes them when it ends
// (done, failed, timed out or cancelled). The uv_poll handle is stopped (which
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
napi_value Sendfile(napi_env env, napi_callback_info info) {
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
napi_value SendfileCancel(napi_env env, napi_callback_info info) {
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

