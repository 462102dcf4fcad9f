// What the connection uses of a socket: a net.Socket in porta, a stand-in in
// the fuzzer (bytes in, bytes out, no kernel), spelled out so a stand-in
// needs only these. And the two things porta asks
// of the socket's libuv handle in CGI socket mode, typed once here.

import type { Socket } from 'node:net';
import { loadNetAddon } from './native';

export interface ConnectionSocket {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  write(data: Uint8Array | string, callback?: (err?: Error | null) => void): boolean;
  write(data: string, encoding: BufferEncoding, callback?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  /** FIN after what is queued. */
  end(): unknown;
  destroy(): unknown;
  /** Destroy once what is queued has been written. */
  destroySoon(): void;
  pause(): unknown;
  resume(): unknown;
  readonly destroyed: boolean;
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

/** A net.Socket is one (the assignment is the check). */
const _netSocketFits: (socket: Socket) => ConnectionSocket = (socket) => socket;
void _netSocketFits;

/** What a connection hears from its socket. */
export interface SocketEvents {
  socketData(chunk: Buffer): void;
  /** The peer's FIN. */
  socketEnd(): void;
  socketDrain(): void;
  socketClose(): void;
}

/** The link from a socket to whom its events go, for the shared listeners. */
const TARGET = Symbol('porta.socketEvents');
type LinkedSocket = ConnectionSocket & { [TARGET]?: SocketEvents };

function targetOf(socket: ConnectionSocket): SocketEvents {
  return (socket as LinkedSocket)[TARGET] as SocketEvents;
}

// One set of listeners for every socket (an emitter calls them with the
// socket as `this`) instead of five closures and their context per
// connection: about 320 bytes of the 2.9 KiB of heap an idle keep-alive
// connection held.
const LISTENERS = {
  data(this: ConnectionSocket, chunk: Buffer): void {
    targetOf(this).socketData(chunk);
  },
  end(this: ConnectionSocket): void {
    targetOf(this).socketEnd();
  },
  drain(this: ConnectionSocket): void {
    targetOf(this).socketDrain();
  },
  // 'close' follows; ECONNRESET and EPIPE are ordinary.
  error(): void {},
  close(this: ConnectionSocket): void {
    targetOf(this).socketClose();
  },
};

/** Send `socket`'s events to `target`. */
export function listenTo(socket: ConnectionSocket, target: SocketEvents): void {
  (socket as LinkedSocket)[TARGET] = target;
  socket.on('data', LISTENERS.data);
  socket.on('end', LISTENERS.end);
  socket.on('drain', LISTENERS.drain);
  socket.on('error', LISTENERS.error);
  socket.on('close', LISTENERS.close);
}

/** What libuv's getpeername/getsockname fill in (net.Socket's own `_getpeername()` reads it so). */
interface AddressOut {
  address?: string;
  port?: number;
}

interface StreamHandle {
  fd?: number;
  /** net.Socket's own flag: is libuv reading the handle (its tryReadStart and onStreamRead keep it). */
  reading?: boolean;
  readStart?(): number;
  readStop?(): number;
  setBlocking?(blocking: boolean): number;
  getpeername?(out: AddressOut): number;
  getsockname?(out: AddressOut): number;
}

export interface SocketAddresses {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
}

/**
 * Both ends' addresses, read once. socket.remoteAddress and its kin would
 * do, but net.Socket keeps what they read (`_peername`, `_sockname`: two
 * objects and their strings) for the socket's whole life, a second copy of
 * what the connection keeps in its Peer: about 200 bytes of every idle
 * keep-alive connection. So they are read from the handle, as net.Socket
 * itself does (a TLS socket's handle passes the calls to its TCP handle);
 * a socket without such a handle (a test's stand-in) answers the getters.
 */
export function socketAddresses(socket: ConnectionSocket): SocketAddresses {
  const handle = handleOf(socket);
  if (handle?.getpeername !== undefined && handle.getsockname !== undefined) {
    const peer: AddressOut = {};
    const local: AddressOut = {};
    if (handle.getpeername(peer) === 0 && handle.getsockname(local) === 0) {
      return { remoteAddress: peer.address, remotePort: peer.port, localAddress: local.address, localPort: local.port };
    }
  }
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  return { remoteAddress, remotePort, localAddress, localPort };
}

function handleOf(socket: ConnectionSocket): StreamHandle | null {
  const handle = (socket as { _handle?: StreamHandle | null })._handle;
  return handle ?? null;
}

/**
 * The fd behind the socket, read from its handle now. Only valid in this
 * event-loop turn: once the socket closes, the number is reused by the next
 * accept or pipe. Whatever outlives the turn must be a dup (see cgi/launcher.ts).
 */
export function socketFd(socket: ConnectionSocket): number | null {
  if (socket.destroyed) return null;
  const fd = handleOf(socket)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * Has the client reset the connection? The kernel is asked now (poll(2) in
 * the addon, net/native.ts), nothing is read; the fd is used in this turn
 * only. False where porta cannot ask (no addon, a handle without an fd).
 */
export function peerReset(socket: ConnectionSocket): boolean {
  const socketReset = loadNetAddon()?.socketReset;
  const fd = socketReset === undefined ? null : socketFd(socket);
  return fd !== null && socketReset?.(fd) === true;
}

/**
 * A CGI program's stdout was this socket, and both launchers clear
 * O_NONBLOCK on it (a program expects a blocking stdout; the flag is on the
 * file description the two processes share). Put it back before Node reads
 * the socket again, or a read would block the event loop. libuv's
 * uv_stream_set_blocking() does exactly that on Unix. False if it could not.
 */
export function restoreNonBlocking(socket: ConnectionSocket): boolean {
  if (socket.destroyed) return false;
  const handle = handleOf(socket);
  if (handle === null || typeof handle.setBlocking !== 'function') return false;
  return handle.setBlocking(false) === 0;
}

/** Sockets whose handle porta stopped (holdReading) and has not restarted. */
const held = new WeakSet<ConnectionSocket>();

/**
 * Stop libuv reading the socket now, until resumeReading(). Pausing a
 * net.Socket only stops the stream: its handle goes on reading into the
 * stream's buffer, libuv reads whenever epoll says the fd is readable (a
 * second time after a read that fills its 64 KiB buffer), and the stream
 * restarts a stopped handle whenever it wants more. Once a program has the
 * socket as its blocking stdout (the flag is on the file description they
 * share), any read that finds nothing would wait for the client, and the
 * whole event loop with it. So the handle is stopped, and its `reading`
 * flag (net.Socket's own, which its _read checks before restarting) left
 * saying it reads, so that nothing in the stream starts it again.
 */
export function holdReading(socket: ConnectionSocket): void {
  const handle = handleOf(socket);
  if (handle === null || typeof handle.readStop !== 'function') return;
  handle.readStop();
  handle.reading = true;
  held.add(socket);
}

/**
 * Read again after holdReading(), once the socket is non-blocking again
 * (restoreNonBlocking). False if the handle would not (the socket is then
 * closed).
 */
export function resumeReading(socket: ConnectionSocket): boolean {
  if (!held.delete(socket)) return true;
  if (socket.destroyed) return false;
  const handle = handleOf(socket);
  if (handle === null || typeof handle.readStart !== 'function') return false;
  handle.reading = true;
  return handle.readStart() === 0;
}

/**
 * A program is done with the socket it had as its stdout: both launchers
 * left the fd blocking, so it is made non-blocking before Node reads it
 * again (restoreNonBlocking), then read again (resumeReading). False if
 * either could not be done.
 */
export function readAgain(socket: ConnectionSocket): boolean {
  return restoreNonBlocking(socket) && resumeReading(socket);
}

/**
 * Close with a reset (SO_LINGER 0): for an answer cut short that a FIN would
 * pass off as whole (a body that ends with the connection). Only a plain TCP
 * handle can be reset (Node refuses a TLS one): anything else is destroyed.
 */
export function resetConnection(socket: ConnectionSocket): void {
  const tcp = socket as { resetAndDestroy?: () => unknown; encrypted?: boolean };
  if (typeof tcp.resetAndDestroy === 'function' && tcp.encrypted !== true && !socket.destroyed) {
    try {
      tcp.resetAndDestroy();
      return;
    } catch {
      // not a TCP handle after all (ERR_INVALID_HANDLE_TYPE): a plain close
    }
  }
  socket.destroy();
}
