// acceptMany(): the connections waiting on a listening socket, taken in one
// event-loop turn; socketReset(): whether a client is still there. The module's entry point is in porta_spawn.c.
//
// Why: Node (libuv since 1.45) accepts one connection per wake-up of a
// listening socket and relies on level-triggered epoll for the next. While a
// turn is long (programs exiting, pipes draining, answers written) that is
// one accept per turn: the kernel's accept queue grows, up to the backlog,
// and a new client waits behind every connection queued before it, most of
// them already gone. lighttpd and nginx (multi_accept) take what is waiting.
//
// Fd ownership: the listening fd is borrowed for this call only (the caller
// read it from Node's handle in the same turn and does not keep it). Each
// accepted fd is new (SOCK_CLOEXEC, SOCK_NONBLOCK) and is returned to
// JavaScript, which gives it to a net.Socket that owns it from then on.

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "porta.h"

// acceptMany(listenFd, max) → [fd, …]: at most `max`, fewer when the queue
// runs dry (EAGAIN) or accept fails (EMFILE: the rest wait for Node's accept,
// which reports the error).
napi_value AcceptMany(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = -1, max = 0;
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok ||
      napi_get_value_int32(env, args[1], &max) != napi_ok || fd < 0 || max < 0) {
    napi_throw_type_error(env, NULL, "acceptMany(fd, max)");
    return NULL;
  }
  CHECK(napi_create_array(env, &result));
  uint32_t taken = 0;
  while (taken < (uint32_t)max) {
    int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) {
      // A connection reset while queued: the next one may be fine.
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    napi_value value;
    if (napi_create_int32(env, client, &value) != napi_ok || napi_set_element(env, result, taken, value) != napi_ok) {
      close(client);
      break;
    }
    taken++;
  }
  return result;
}

// socketReset(fd) → bool: has the peer reset the connection? poll(2) with a
// zero timeout reads nothing: a reset socket says POLLERR (ECONNRESET
// pending) and POLLHUP (TCP_CLOSE); a client's FIN alone says only POLLIN and
// POLLRDHUP, and such a half-closed client still gets its answer (RFC 9112
// §9.6). The fd is borrowed for the call.
napi_value SocketReset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "socketReset(fd)");
    return NULL;
  }
  struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  CHECK(napi_get_boolean(env, n == 1 && (p.revents & (POLLERR | POLLHUP)) != 0, &result));
  return result;
}
