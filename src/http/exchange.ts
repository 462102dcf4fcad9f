// The contract between the connection and whoever answers a request (static
// files, CGI). Handlers see this interface, never the connection or the socket,
// except through handOff(), which lends the socket for good.
//
// Any handler callback may run after its client left (a file opened, a
// program started or exited, a write drained). That is harmless by design:
// once the exchange is gone every writer call below is a no-op that says
// 'gone', and onClose() has told the handler to stop. Nothing here throws.

import type { ConnectionTrace } from '../trace';
import type { Request } from './request';
import type { HeaderList } from './response';

/** How the body after a head is framed (RFC 9112 §6). */
export type BodyFraming =
  | { kind: 'length'; length: number } // Content-Length
  | { kind: 'stream' } // chunked on HTTP/1.1, close-delimited on 1.0
  | { kind: 'none' }; // 204, 304, or any answer to HEAD with no length

/** 'full': queued, but wait for onDrain before writing more. 'gone': nothing was written, ever will be. */
export type WriteResult = 'ok' | 'full' | 'gone';

/** Who answers requests: the server gives the connection one (src/dispatch.ts). */
export type Dispatch = (exchange: Exchange) => void;

export interface BodyReader {
  onData(chunk: Buffer): void;
  onEnd(): void;
}

export interface Exchange {
  readonly request: Request;
  /** --trace / --flow: what the handler decides is told here (null when nothing traces). */
  readonly trace: ConnectionTrace | null;
  /** HEAD: the head goes out, body writes are dropped (RFC 9110 §9.3.2). */
  readonly headOnly: boolean;
  /** True once a response has begun (a head queued, the socket handed off) or the exchange is over. */
  readonly headSent: boolean;
  /** The connection is gone, or the exchange was aborted: writing is a no-op from now on. */
  readonly gone: boolean;

  /** Queue the head (it leaves with the first body bytes). 'gone' when it cannot be sent. */
  sendHead(status: number, headers: HeaderList, framing: BodyFraming): WriteResult;
  /** Queue body bytes. Never more than a declared Content-Length goes out. */
  write(chunk: Buffer): WriteResult;
  onDrain(callback: () => void): void;
  /** The response is complete. Short of a declared length, the connection is closed instead. */
  end(): WriteResult;
  /** A whole error response if nothing was sent yet; else abort. */
  sendError(status: number, detail: string, extra?: HeaderList): void;
  /** The response cannot be completed: the connection is closed (the client sees the truncation). */
  abort(reason: string, clientGone?: boolean): void;

  /** Start delivering the request body (sends 100 Continue if the client waits for it). */
  readBody(reader: BodyReader): void;
  /** Stop/restart reading the socket while the body's consumer is full. */
  pauseBody(): void;
  resumeBody(): void;
  /** Called once if the exchange ends without completing: client gone, connection failed, or aborted. */
  onClose(callback: () => void): void;
  /**
   * Is the client still there? The kernel is asked (no read) whether it reset
   * the connection: a reset client's exchange is aborted here (onClose runs)
   * and false is returned. Before work too costly to do for nobody, as
   * starting a program. True when porta cannot ask (no addon).
   */
  clientPresent(): boolean;

  /**
   * Lend the socket (CGI with the socket as stdout). With `withHead`, porta's
   * status line, Date, Server and Connection: close are written first (the
   * header block left open for the program) and `ready` runs once they are
   * on the wire; null when the client left meanwhile. The request must have
   * been read completely. After this the connection never reads or writes
   * the socket until the borrower calls release().
   */
  handOff(withHead: boolean, ready: (socket: HandedSocket | null) => void): void;
  /**
   * Lend the socket for the body only (static files by sendfile): after
   * sendHead() with a length, the head (and all queued before it) is written
   * and `ready` runs once it is on the wire, with the socket; null when the
   * client left or the socket cannot be lent (TLS: porta must encrypt). Until
   * giveBack(), the exchange writes nothing (write and end say 'gone'); after
   * it, the handler goes on as usual: end(), more write()s, or abort().
   * Optional: a handler streams when the exchange has no lendBody.
   */
  lendBody?(ready: (socket: LentBody | null) => void): void;

  /** A line for the error log, tagged with the request. */
  logError(message: string): void;
  /** How long the program behind this answer ran (µs), for the access log. */
  noteUpstream(us: number): void;
  /**
   * Wrap an I/O callback: an exception thrown in it fails this exchange alone
   * (500 if nothing was sent, else an abort), logged with the request.
   */
  contain<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void;
}

export interface LentBody {
  /** The socket's fd, read now: valid only in this event-loop turn (dup it at once). null once gone. */
  fd(): number | null;
  /** The borrower wrote `bytes` body bytes itself and gives the socket back: counted as sent. */
  giveBack(bytes: number): void;
}

export interface HandedSocket {
  /**
   * The socket's file descriptor, read from its handle now: valid only in the
   * current event-loop turn. Whatever crosses to a thread or a child must be
   * a duplicate made in this same turn (the launcher makes it).
   */
  fd(): number | null;
  /**
   * The borrower is done (the program exited): log the exchange and close the
   * connection, with a FIN; or, given `cut` (why the answer is incomplete:
   * timed out, killed, never started), with a reset.
   */
  release(status: number, bytesSent: number, cut?: string): void;
}
