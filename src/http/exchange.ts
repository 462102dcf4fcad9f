// The contract between the connection and whoever answers a request (static
// files, CGI). Handlers see this interface, never the connection or the socket,
// except through handOff(), which gives the socket away for good.

import type { Socket } from 'node:net';
import type { HeaderList } from './response';
import type { Request } from './request';

/** How the body after a head is framed (RFC 9112 §6). */
export type BodyFraming =
  | { kind: 'length'; length: number } // Content-Length
  | { kind: 'stream' } // chunked on HTTP/1.1, close-delimited on 1.0
  | { kind: 'none' }; // 204, 304, or any answer to HEAD with no length

export interface BodyReader {
  onData(chunk: Buffer): void;
  onEnd(): void;
}

export interface Exchange {
  readonly request: Request;
  /** HEAD: the head goes out, body writes are dropped (RFC 9110 §9.3.2). */
  readonly headOnly: boolean;
  /** True once any response byte has been queued on the socket. */
  readonly headSent: boolean;

  sendHead(status: number, headers: HeaderList, framing: BodyFraming): void;
  /** Queue body bytes; false means wait for onDrain before writing more. */
  write(chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  /** The response is complete. */
  end(): void;
  /** A whole error response, if nothing was sent yet; else abort. */
  sendError(status: number, detail: string, extra?: HeaderList): void;
  /** The response cannot be completed: the connection is closed. */
  abort(reason: string): void;

  /** Start delivering the request body (sends 100 Continue if the client waits for it). */
  readBody(reader: BodyReader): void;
  /** Stop/restart reading the socket while the body's consumer is full. */
  pauseBody(): void;
  resumeBody(): void;
  /** Called once if the client goes away or the connection dies before end(). */
  onClose(callback: () => void): void;

  /**
   * Give the socket away (CGI with the socket as stdout). After this the
   * connection never reads or writes it again; `done` ends it.
   */
  handOff(): HandedSocket;

  /** A line for the error log, tagged with the request. */
  logError(message: string): void;
}

export interface HandedSocket {
  socket: Socket;
  /** Status the access log should show, and bytes known to be sent. */
  finish(status: number, bytesSent: number): void;
}
