// Take every connection waiting on a listening socket in one event-loop turn.
//
// Node accepts one connection per wake-up of a listening socket (libuv since
// 1.45, "don't accept() connections in a loop"): level-triggered epoll brings
// the next one on the next turn. A turn that also reaps programs, drains
// their pipes and writes answers is long, so under a storm of clients that
// connect, send a CGI request and reset, porta fell behind: the kernel's
// accept queue grew past 2,000 (the backlog is somaxconn) and a GET for a
// small file beside the storm waited 0.5–2.7 s behind connections long gone.
// After Node's own accept, the addon's acceptMany() takes up to BURST more,
// each handed to the server as Node hands one (a 'connection' event). With
// this and no program started for a client already gone
// (Exchange.clientPresent), that GET took ~4 ms (README, Faults and limits).
//
// Only where this process is the socket's one acceptor: with several
// workers on one shared socket, one accept per turn is what spreads the
// connections (a busy worker takes fewer), and taking bursts would undo it.

import { closeSync } from 'node:fs';
import { type Server, Socket } from 'node:net';
import type { NetAddon } from './native';

/** The most connections taken in one turn beside Node's own. */
export const BURST = 64;

/** A listening handle's fd, or -1 (round-robin workers get theirs from the primary: no fd). */
function listeningFd(server: Server): number {
  const handle = (server as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/**
 * After each connection Node accepts on `server`, take the others waiting
 * and emit them as 'connection' too, so that the server's own listener (plain
 * or TLS) sees no difference.
 */
export function acceptInBursts(server: Server, acceptMany: NetAddon['acceptMany']): void {
  let inBurst = false;
  // Added after the server's own listener: Node's connection is handled first.
  server.on('connection', () => {
    if (inBurst) return;
    // Read from the handle and used in this turn only (acceptMany does not keep it).
    const fd = listeningFd(server);
    if (fd < 0) return;
    const fds = acceptMany(fd, BURST);
    if (fds.length === 0) return;
    inBurst = true;
    try {
      for (const [i, accepted] of fds.entries()) {
        let socket: Socket;
        try {
          socket = new Socket({ fd: accepted, allowHalfOpen: true, readable: true, writable: true });
        } catch {
          // Not wrapped: the fd is still ours to close.
          closeSync(accepted);
          continue;
        }
        socket.setNoDelay(true);
        try {
          server.emit('connection', socket);
        } catch (err) {
          // A listener that throws must not leak the rest of the burst.
          for (const rest of fds.slice(i + 1)) closeSync(rest);
          throw err;
        }
      }
    } finally {
      inBurst = false;
    }
  });
}
