// The connection state machine: one per socket, from accept to close. It feeds
// bytes to llhttp, turns parser events into exchanges, keeps requests in order
// (pipelining: the parser is paused at each message boundary while a response
// is in flight), and owns every timeout. All transitions go through enter().

import type { Socket } from 'node:net';
import type { Settings } from '../config';
import { ERROR_STATUS, parseErrorName, type RequestError } from '../http/errors';
import type { Exchange } from '../http/exchange';
import { createParser, type ParseError, type ParserSink, type RequestHead, type RequestParser } from '../http/parser';
import { Request } from '../http/request';
import { closingErrorResponse, type HeaderList } from '../http/response';
import type { Log } from '../log';
import { quoteBytes, type Trace } from '../trace';
import { ConnectionReport } from './report';
import { validateHead, wantsKeepAlive } from './head';
import { stateTimeout, type ConnectionState } from './states';

export type { ConnectionState } from './states';
import { ConnectionExchange, type ExchangeHost } from './exchange';

export type Dispatch = (exchange: Exchange) => void;

export interface ConnectionContext {
  settings: Settings;
  dispatch: Dispatch;
  log: Log;
  /** --trace: observes transitions and parser events; null when off. */
  trace: Trace | null;
  /** The server is shutting down: finish the current response, then close. */
  readonly draining: boolean;
  onClosed(connection: Connection): void;
}

export class Connection implements ParserSink, ExchangeHost {
  readonly socket: Socket;
  state: ConnectionState = 'idle';
  /** performance.now() after which the current state has timed out. */
  deadline: number;

  readonly #ctx: ConnectionContext;
  readonly #parser: RequestParser;
  readonly #report: ConnectionReport;
  #exchange: ConnectionExchange | null = null;
  /** Bytes after the paused message boundary, not yet parsed. */
  #tail: Buffer | null = null;
  /** A parse error met while a response was in flight (native parser reads ahead). */
  #deferredError: (ParseError & { following: string }) | null = null;
  /** The next request began while this one was answered (native parser). */
  #nextBegun = false;
  #requests = 0;
  #bodyBytes = 0;

  constructor(socket: Socket, ctx: ConnectionContext) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#report = new ConnectionReport(socket, ctx.log, ctx.trace);
    this.#parser = createParser(ctx.settings.parser, this, { maxHeaderSize: ctx.settings.limits.maxHeaderSize });
    this.deadline = performance.now() + ctx.settings.limits.keepAliveTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onPeerEnd());
    socket.on('drain', () => this.#onDrain());
    socket.on('error', () => undefined); // 'close' follows; ECONNRESET is ordinary
    socket.on('close', () => this.#onClose());
  }

  // ---- transitions -------------------------------------------------------

  #enter(state: ConnectionState): void {
    if (state !== this.state) this.#report.trace?.(`state ${this.state} → ${state}`);
    this.state = state;
    this.deadline = performance.now() + stateTimeout(state, this.#ctx.settings.limits);
  }

  /** Called by the server's sweep timer. */
  checkTimeout(now: number): void {
    if (now < this.deadline) return;
    switch (this.state) {
      case 'idle':
        this.#destroy();
        return;
      case 'readingHead':
        this.#fail({ name: 'headTimeout', detail: 'request head not received in time' });
        return;
      case 'readingBody':
        this.#fail({ name: 'bodyTimeout', detail: 'request body stalled' });
        return;
      case 'responding':
      case 'draining':
        // Only a client that stopped reading is given up on; a slow handler has its own timeout.
        if (this.socket.writableLength > 0) this.#destroy();
        else this.deadline = now + this.#ctx.settings.limits.sendTimeoutMs;
        return;
      case 'closing':
        this.#destroy();
        return;
      case 'handedOff':
      case 'closed':
        return;
    }
  }

  // ---- socket events -----------------------------------------------------

  #onData(chunk: Buffer): void {
    this.#report.trace?.(`read ${chunk.length} bytes ${quoteBytes(chunk)}`);
    switch (this.state) {
      case 'idle':
      case 'readingHead':
      case 'readingBody':
        this.#feed(chunk);
        return;
      case 'responding':
      case 'draining':
        // pause() raced a read already under way: keep it for later, stop reading.
        this.#tail = this.#tail === null ? chunk : Buffer.concat([this.#tail, chunk]);
        this.socket.pause();
        return;
      case 'closing':
        return; // discarded: we are only waiting for the peer's FIN
      case 'handedOff':
      case 'closed':
        return;
    }
  }

  #feed(chunk: Buffer): void {
    let status;
    // Responses answered while this read is parsed (pipelining) leave in one
    // writev instead of one syscall each.
    this.socket.cork();
    try {
      status = this.#parser.execute(chunk);
    } catch (err) {
      // A handler threw inside a parser callback: the parser's state is lost.
      this.#report.error(null, `internal error: ${(err as Error).stack ?? String(err)}`);
      this.#fail({ name: 'badRequest', detail: 'internal error' }, 500);
      return;
    } finally {
      this.socket.uncork();
    }
    switch (status) {
      case 'ok':
        this.#tail = null;
        if (this.#parser.awaitingHttp09Head && this.state === 'readingHead') {
          this.#fail({ name: 'badVersion', detail: 'HTTP/0.9 request line (no version)' });
        }
        return;
      case 'paused': {
        const rest = chunk.subarray(this.#parser.offset);
        this.#tail = rest.length > 0 ? rest : null;
        if (this.state === 'responding' || this.state === 'draining') this.socket.pause();
        return;
      }
      case 'error': {
        const error = this.#parser.error as ParseError;
        const following = chunk.toString('latin1', error.offset, Math.min(chunk.length, error.offset + 64));
        this.#onParseError({ ...error, following });
        return;
      }
    }
  }

  #onPeerEnd(): void {
    switch (this.state) {
      case 'idle':
      case 'closing':
        this.#destroy();
        return;
      case 'readingHead':
        // RFC 9112 §9.6: a request cut off in its head is just a close.
        this.#destroy();
        return;
      case 'readingBody': {
        const err = this.#parser.finish();
        if (err !== null) this.#fail({ name: 'badRequest', detail: 'request body truncated' });
        return;
      }
      case 'responding':
      case 'draining':
        // Half-close after a complete request: answer it, then close.
        this.#tail = null;
        return;
      case 'handedOff':
      case 'closed':
        return;
    }
  }

  #onDrain(): void {
    if (this.state === 'draining') {
      this.#readNext();
      return;
    }
    this.#exchange?.drained();
  }

  #onClose(): void {
    const previous = this.state;
    this.#enter('closed');
    this.#parser.destroy();
    const exchange = this.#exchange;
    this.#exchange = null;
    if (exchange !== null && previous !== 'handedOff') {
      if (exchange.phase === 'waiting' || exchange.phase === 'sending') exchange.phase = 'aborted';
      exchange.closed();
    } else if (exchange !== null) {
      exchange.closed();
    }
    this.#ctx.onClosed(this);
  }

  // ---- parser events (ParserSink) ------------------------------------------

  onRequestBegin(): void {
    switch (this.state) {
      case 'idle':
        this.#enter('readingHead');
        return;
      case 'responding':
      case 'draining':
        this.#nextBegun = true;
        return;
      default:
        return;
    }
  }

  onRequestHead(head: RequestHead): void {
    if (this.state !== 'readingHead' && this.state !== 'idle') return;
    this.#report.trace?.(
      `llhttp head: ${head.method} ${head.url} HTTP/${head.versionMajor}.${head.versionMinor}, ${head.rawHeaders.length / 2} fields`,
    );
    const request = new Request(head, this.#report.peer);
    const verdict = validateHead(request, head, this.#ctx.settings.limits);
    if (verdict.error !== null) {
      this.#failRequest(request, verdict.error, verdict.extraHeaders);
      return;
    }
    this.#requests++;
    this.#bodyBytes = 0;
    const exchange = new ConnectionExchange(this, request, verdict.expectsContinue);
    this.#exchange = exchange;
    this.#enter('readingBody');
    if (verdict.hasBody) this.socket.pause(); // until the handler asks for the body
    try {
      this.#ctx.dispatch(exchange);
    } catch (err) {
      exchange.logError(`handler threw: ${(err as Error).stack ?? String(err)}`);
      exchange.sendError(500, 'internal error');
    }
  }

  onRequestBody(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (this.state !== 'readingBody' || exchange === null) return;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > this.#ctx.settings.limits.maxBodySize) {
      this.#fail({ name: 'bodyTooLarge', detail: 'request body over the limit' });
      return;
    }
    this.deadline = performance.now() + this.#ctx.settings.limits.bodyTimeoutMs;
    exchange.deliverBody(chunk);
  }

  onRequestEnd(): boolean {
    this.#report.trace?.(`llhttp message end${this.#bodyBytes > 0 ? ` (${this.#bodyBytes} body bytes)` : ''}`);
    const exchange = this.#exchange;
    if (this.state !== 'readingBody' || exchange === null) return true;
    exchange.deliverEnd();
    if (this.state !== 'readingBody') return true; // the reader failed the exchange
    if (exchange.phase === 'finished') return this.#afterResponse();
    this.#enter('responding');
    return true;
  }

  #onParseError(error: ParseError & { following: string }): void {
    this.#report.trace?.(`llhttp error ${error.code}: ${error.reason}`);
    if (this.state === 'responding' || this.state === 'draining') {
      this.#deferredError = error; // answered once the current response is out
      return;
    }
    if (this.state === 'closing' || this.state === 'closed' || this.state === 'handedOff') return;
    const name = parseErrorName(error.code, error.reason, error.following);
    this.#fail({ name, detail: `${error.code}: ${error.reason}` });
  }

  // ---- ExchangeHost ----------------------------------------------------------

  mustClose(exchange: ConnectionExchange): boolean {
    const { limits } = this.#ctx.settings;
    return (
      !wantsKeepAlive(exchange.request) ||
      this.#requests >= limits.maxRequestsPerConnection ||
      this.#ctx.draining ||
      this.#deferredError !== null ||
      // Answered before asking for the body (RFC 9110 §10.1.1): the connection
      // closes rather than wait for a body that may never come; say so.
      (exchange.expectsContinue && !exchange.continueSent && !exchange.requestComplete)
    );
  }

  exchangeFinished(exchange: ConnectionExchange): void {
    if (exchange !== this.#exchange) return;
    switch (this.state) {
      case 'readingBody':
        // Answered before the body was read. Closing is allowed (RFC 9112 §9.6)
        // and cheaper than reading a body nobody wants, unless it is already here.
        if (exchange.closeAfter || (exchange.expectsContinue && !exchange.continueSent)) {
          this.#logExchange(exchange);
          this.#exchange = null;
          this.#close();
          return;
        }
        this.socket.resume(); // read the rest of the body, to throw it away
        return;
      case 'responding':
        if (!this.#afterResponse()) this.#readNext();
        return;
      default:
        return;
    }
  }

  /** The exchange is over and the request fully read. Returns true to keep the parser paused. */
  #afterResponse(): boolean {
    const exchange = this.#exchange as ConnectionExchange;
    this.#logExchange(exchange);
    this.#exchange = null;
    if (exchange.closeAfter) {
      this.#close();
      return true;
    }
    if (this.#deferredError !== null) {
      const error = this.#deferredError;
      this.#deferredError = null;
      this.#enter('readingHead');
      this.#onParseError(error);
      return true;
    }
    if (this.socket.writableNeedDrain) {
      this.#enter('draining');
      return true;
    }
    this.#enter(this.#nextBegun ? 'readingHead' : 'idle');
    this.#nextBegun = false;
    return false;
  }

  /** Resume parsing after a response: first the held tail, then the socket. */
  #readNext(): void {
    if (this.state === 'draining') this.#enter(this.#nextBegun ? 'readingHead' : 'idle');
    this.#nextBegun = false;
    this.#parser.resume();
    const tail = this.#tail;
    this.#tail = null;
    if (tail !== null) this.#feed(tail);
    if (this.#shouldRead()) this.socket.resume();
  }

  /** Read the socket unless a response is in flight or a handler has not yet asked for the body. */
  #shouldRead(): boolean {
    switch (this.state) {
      case 'idle':
      case 'readingHead':
        return true;
      case 'readingBody': {
        const exchange = this.#exchange;
        return exchange === null || exchange.hasBodyReader || exchange.phase !== 'waiting';
      }
      default:
        return false;
    }
  }

  exchangeAborted(exchange: ConnectionExchange, reason: string): void {
    exchange.logError(`response aborted: ${reason}`);
    this.#logExchange(exchange);
    this.#destroy();
  }

  exchangeHandedOff(exchange: ConnectionExchange): void {
    // From here the socket is the child's stdout; Node stops reading it and the
    // fd turns blocking, so this connection must neither read nor write again.
    this.socket.removeAllListeners('data');
    this.socket.pause();
    this.#tail = null;
    void exchange;
    this.#enter('handedOff');
  }

  pauseReading(): void {
    if (this.state === 'readingBody') this.socket.pause();
  }

  resumeReading(): void {
    if (this.state === 'readingBody') this.socket.resume();
  }

  logError(exchange: ConnectionExchange, message: string): void {
    this.#report.error(exchange.request, message);
  }

  logAccess(exchange: ConnectionExchange): void {
    this.#logExchange(exchange);
  }

  #logExchange(exchange: ConnectionExchange): void {
    this.#report.answered(exchange.request, exchange.status, exchange.bytesSent, exchange.closeAfter);
  }

  // ---- endings -----------------------------------------------------------------

  /** A request that no handler will see: answer it from the errors table and close. */
  #failRequest(request: Request | null, error: RequestError, extra: HeaderList = [], statusOverride?: number): void {
    const status = statusOverride ?? ERROR_STATUS[error.name];
    const exchange = this.#exchange;
    if (exchange !== null && exchange.headSent) {
      // Bytes of a response are out: nothing can be said any more (RFC 9112 §9.6).
      if (exchange.phase === 'finished') {
        // Answered already, the rest of the body never came: just close.
        this.#logExchange(exchange);
        this.#exchange = null;
        this.#close();
      } else {
        exchange.abort(error.detail);
      }
      return;
    }
    const req = request ?? exchange?.request ?? null;
    this.socket.write(closingErrorResponse(status, error.detail, extra, req?.method === 'HEAD'));
    this.#report.answered(req, status, 0, true);
    if (exchange !== null) {
      this.#exchange = null;
      exchange.phase = 'aborted';
      exchange.closed();
    }
    this.#close();
  }

  #fail(error: RequestError, statusOverride?: number): void {
    this.#failRequest(null, error, [], statusOverride);
  }

  /** Send FIN after what is queued, keep reading (and dropping) until the peer closes. */
  #close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.#enter('closing');
    this.#tail = null;
    this.socket.end();
    this.socket.resume();
  }

  #destroy(): void {
    if (this.state === 'closed') return;
    this.socket.destroy();
  }

  /** Server shutdown: an idle connection closes now, a busy one after its response. */
  shutdown(): void {
    if (this.state === 'idle') this.#destroy();
  }
}
