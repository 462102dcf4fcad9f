// One request's response side: framing (Content-Length, chunked, or
// close-delimited), HEAD suppression, 100 Continue, and the body hand-over from
// the parser. The connection (ExchangeHost) owns the socket and the state
// machine; an exchange only asks it to write, pause, resume or give up.

import type { Socket } from 'node:net';
import type { BodyFraming, BodyReader, Exchange, HandedSocket } from '../http/exchange';
import type { Request } from '../http/request';
import {
  CRLF,
  SERVER_HEADER,
  dateHeaderLine,
  errorPage,
  isSafeFieldValue,
  statusLine,
  type HeaderList,
} from '../http/response';

export interface ExchangeHost {
  readonly socket: Socket;
  /** Must this response carry Connection: close (request, limits, shutdown)? */
  mustClose(exchange: ConnectionExchange): boolean;
  exchangeFinished(exchange: ConnectionExchange): void;
  exchangeAborted(exchange: ConnectionExchange, reason: string): void;
  exchangeHandedOff(exchange: ConnectionExchange): void;
  pauseReading(): void;
  resumeReading(): void;
  logError(exchange: ConnectionExchange, message: string): void;
  logAccess(exchange: ConnectionExchange): void;
}

export type ExchangePhase =
  | 'waiting' // no response byte yet
  | 'sending' // head queued, body under way
  | 'finished' // response complete
  | 'aborted' // connection given up mid-response
  | 'handedOff'; // socket belongs to a child process

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

export class ConnectionExchange implements Exchange {
  readonly request: Request;
  readonly headOnly: boolean;
  phase: ExchangePhase = 'waiting';
  status = 0;
  bytesSent = 0;
  /** The response said Connection: close; the connection closes after it. */
  closeAfter = false;
  /** Set by the connection when llhttp reported the message end. */
  requestComplete = false;
  /** The client sent Expect: 100-continue and is waiting for our answer. */
  expectsContinue: boolean;
  continueSent = false;

  readonly #host: ExchangeHost;
  #framing: BodyFraming = { kind: 'none' };
  #chunked = false;
  /** Head text held back to go out in one write with the first body bytes. */
  #pendingHead: string | null = null;
  #reader: BodyReader | null = null;
  #earlyBody: Buffer[] = [];
  #drainCallback: (() => void) | null = null;
  #closeCallbacks: Array<() => void> = [];

  constructor(host: ExchangeHost, request: Request, expectsContinue: boolean) {
    this.#host = host;
    this.request = request;
    this.headOnly = request.method === 'HEAD';
    this.expectsContinue = expectsContinue;
  }

  get headSent(): boolean {
    return this.phase !== 'waiting';
  }

  get hasBodyReader(): boolean {
    return this.#reader !== null;
  }

  sendHead(status: number, headers: HeaderList, framing: BodyFraming): void {
    if (this.phase !== 'waiting') throw new Error(`sendHead in phase ${this.phase}`);
    const req = this.request;
    let close = this.#host.mustClose(this);
    // RFC 9110 §15.3.5, §15.4.5: 204 and 304 never have a body.
    if (status === 204 || status === 304) framing = { kind: 'none' };
    let framingLine = '';
    if (framing.kind === 'length') {
      framingLine = `Content-Length: ${framing.length}\r\n`;
    } else if (framing.kind === 'stream') {
      if (req.versionMinor >= 1) {
        framingLine = 'Transfer-Encoding: chunked\r\n';
        this.#chunked = !this.headOnly;
      } else {
        close = true; // RFC 9112 §6.3: the body ends when the connection does
      }
    }
    let head = statusLine(status) + dateHeaderLine() + SERVER_HEADER;
    for (const [name, value] of headers) {
      if (!isSafeFieldValue(value)) throw new Error(`unsafe value for response header ${name}`);
      if (name.toLowerCase() === 'connection' && /\bclose\b/i.test(value)) close = true;
      else head += `${name}: ${value}\r\n`;
    }
    head += framingLine;
    if (close) head += 'Connection: close\r\n';
    else if (req.versionMinor === 0) head += 'Connection: keep-alive\r\n';
    head += CRLF;
    this.status = status;
    this.closeAfter = close;
    this.#framing = framing;
    this.#pendingHead = head;
    this.phase = 'sending';
  }

  write(chunk: Buffer): boolean {
    if (this.phase !== 'sending') return false;
    const socket = this.#host.socket;
    // HEAD, 204 and 304 have no body (RFC 9110 §9.3.2, §15.3.5, §15.4.5): drop it.
    if (this.headOnly || this.#framing.kind === 'none' || chunk.length === 0) return !socket.writableNeedDrain;
    this.bytesSent += chunk.length;
    const head = this.#pendingHead;
    this.#pendingHead = null;
    if (this.#chunked) {
      const size = chunk.length.toString(16) + CRLF;
      socket.cork();
      socket.write(head === null ? size : head + size, 'latin1');
      socket.write(chunk);
      socket.write(CRLF, 'latin1');
      socket.uncork();
    } else if (head !== null) {
      if (chunk.length <= 16 * 1024) {
        // One syscall for head and a small body.
        const headBuf = Buffer.from(head, 'latin1');
        socket.write(Buffer.concat([headBuf, chunk], headBuf.length + chunk.length));
      } else {
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(chunk);
        socket.uncork();
      }
    } else {
      socket.write(chunk);
    }
    return !socket.writableNeedDrain;
  }

  onDrain(callback: () => void): void {
    this.#drainCallback = callback;
  }

  /** Called by the connection on socket 'drain'. */
  drained(): void {
    const callback = this.#drainCallback;
    this.#drainCallback = null;
    if (callback !== null) callback();
  }

  end(): void {
    if (this.phase !== 'sending') return;
    const socket = this.#host.socket;
    const framing = this.#framing;
    if (framing.kind === 'length' && !this.headOnly && this.bytesSent !== framing.length) {
      // The promised length was not met: the client could not find the next response.
      this.abort(`body was ${this.bytesSent} bytes, Content-Length said ${framing.length}`);
      return;
    }
    const head = this.#pendingHead;
    this.#pendingHead = null;
    if (this.#chunked) {
      if (head !== null) socket.write(Buffer.concat([Buffer.from(head, 'latin1'), LAST_CHUNK]));
      else socket.write(LAST_CHUNK);
    } else if (head !== null) {
      socket.write(head, 'latin1');
    }
    this.phase = 'finished';
    this.#host.exchangeFinished(this);
  }

  sendError(status: number, detail: string, extra: HeaderList = []): void {
    if (this.phase !== 'waiting') {
      this.abort(`${status} after the response started: ${detail}`);
      return;
    }
    const page = Buffer.from(errorPage(status, detail), 'utf8');
    this.sendHead(status, [['Content-Type', 'text/html; charset=utf-8'], ...extra], {
      kind: 'length',
      length: page.length,
    });
    this.write(page);
    this.end();
  }

  abort(reason: string): void {
    if (this.phase === 'finished' || this.phase === 'aborted' || this.phase === 'handedOff') return;
    this.phase = 'aborted';
    this.#host.exchangeAborted(this, reason);
  }

  readBody(reader: BodyReader): void {
    this.#reader = reader;
    // RFC 9110 §10.1.1: the client holds the body back until it hears from us.
    if (this.expectsContinue && !this.continueSent && !this.requestComplete && this.phase === 'waiting') {
      this.continueSent = true;
      this.#host.socket.write(CONTINUE, 'latin1');
    }
    const early = this.#earlyBody;
    this.#earlyBody = [];
    for (const chunk of early) reader.onData(chunk);
    if (this.requestComplete) reader.onEnd();
    else this.#host.resumeReading();
  }

  /** Body bytes from the parser (connection only). */
  deliverBody(chunk: Buffer): void {
    const reader = this.#reader;
    if (reader !== null) reader.onData(chunk);
    else if (this.phase === 'waiting') {
      // Held only until the handler decides; the socket is paused meanwhile, so
      // this is at most the rest of one socket read.
      this.#earlyBody.push(chunk);
    }
    // Otherwise the response is already under way without the body: discard.
  }

  /** The message end from the parser (connection only). */
  deliverEnd(): void {
    this.requestComplete = true;
    // Without a reader yet, what arrived stays in #earlyBody for readBody().
    this.#reader?.onEnd();
  }

  pauseBody(): void {
    if (!this.requestComplete) this.#host.pauseReading();
  }

  resumeBody(): void {
    if (!this.requestComplete) this.#host.resumeReading();
  }

  onClose(callback: () => void): void {
    this.#closeCallbacks.push(callback);
  }

  /** The connection died before this exchange finished (connection only). */
  closed(): void {
    const callbacks = this.#closeCallbacks;
    this.#closeCallbacks = [];
    for (const callback of callbacks) callback();
  }

  handOff(): HandedSocket {
    if (this.phase !== 'waiting') throw new Error(`handOff in phase ${this.phase}`);
    this.phase = 'handedOff';
    this.closeAfter = true;
    this.#host.exchangeHandedOff(this);
    return {
      socket: this.#host.socket,
      finish: (status: number, bytesSent: number) => {
        this.status = status;
        this.bytesSent = bytesSent;
        this.#host.logAccess(this);
      },
    };
  }

  logError(message: string): void {
    this.#host.logError(this, message);
  }
}
