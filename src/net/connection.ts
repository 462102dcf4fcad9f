// The connection state machine: one per socket, from accept to close, in the
// shape of lighttpd's connection_state_machine_loop. Event handlers (socket
// data/end/drain/close, parser events, the exchange's changes, timeouts) only
// record what happened and call #advance(), which switches on the state and
// loops until nothing more can be done, then decides in one place whether the
// socket is read. Transitions go through #enter(), checked against
// TRANSITIONS (states.ts). The parser stops at every message end, so requests
// are answered strictly in order (pipelining) and never read ahead of.

import type { Settings } from '../config';
import { ERROR_STATUS, parseErrorName, type RequestError } from '../http/errors';
import type { Exchange } from '../http/exchange';
import { createParser, type ParserSink, type RequestHead, type RequestParser } from '../http/parser';
import { Request } from '../http/request';
import { closingErrorResponse, type HeaderList } from '../http/response';
import type { Log } from '../log';
import { quoteBytes, type Trace } from '../trace';
import { ConnectionExchange, type ExchangeHost } from './exchange';
import { keepsAlive, validateHead } from './head';
import { ConnectionReport } from './report';
import { type ConnectionSocket, restoreNonBlocking } from './socket';
import { type ConnectionState, stateTimeout, TRANSITIONS, unreachable } from './states';

export type { ConnectionState } from './states';

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

/** A request that no handler will see, answered from the errors table. */
interface Failure {
  error: RequestError;
  extra: HeaderList;
  request: Request | null;
}

const EMPTY = Buffer.alloc(0);

export class Connection implements ParserSink, ExchangeHost {
  readonly socket: ConnectionSocket;
  /** performance.now() after which the current state has timed out. */
  deadline: number;
  #state: ConnectionState = 'idle';

  readonly #ctx: ConnectionContext;
  readonly #parser: RequestParser;
  readonly #report: ConnectionReport;
  #exchange: ConnectionExchange | null = null;

  // What happened, recorded by the event handlers; #advance() acts on it.
  /** Bytes not yet parsed: a read, or the rest after a message end. */
  #input: Buffer | null = null;
  /** The parser stopped at a message end: resume() and feed #input (even empty) next. */
  #parserPaused = false;
  #begun = false;
  /** The current exchange's head arrived and awaits dispatch. */
  #dispatchPending = false;
  #requestEnded = false;
  #failure: Failure | null = null;
  #peerEnded = false;
  #timedOut = false;
  #shutdown = false;

  #requests = 0;
  #bodyBytes = 0;
  #reading = true;
  #advancing = false;
  #again = false;

  constructor(socket: ConnectionSocket, ctx: ConnectionContext) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#report = new ConnectionReport(socket, ctx.log, ctx.trace);
    this.#parser = createParser(ctx.settings.parser, this, { maxHeaderSize: ctx.settings.limits.maxHeaderSize });
    this.deadline = performance.now() + ctx.settings.limits.keepAliveTimeoutMs;
    this.#report.trace?.(`accepted from ${this.#report.peer.remoteAddress} port ${this.#report.peer.remotePort}`);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#record(() => (this.#peerEnded = true)));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', () => undefined); // 'close' follows; ECONNRESET and EPIPE are ordinary
    socket.on('close', () => this.#finish());
  }

  get state(): ConnectionState {
    return this.#state;
  }

  // ---- events: record, then advance --------------------------------------------

  #record(note: () => void): void {
    note();
    this.#advance();
  }

  #onData(chunk: Buffer): void {
    this.#report.trace?.(`read ${chunk.length} bytes ${quoteBytes(chunk)}`);
    if (this.#state === 'closing' || this.#state === 'closed' || this.#state === 'handedOff') return;
    // A read may land after pause() was asked for: it waits here, bounded by one read.
    this.#input = this.#input === null || this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    this.#advance();
  }

  #onDrain(): void {
    this.#exchange?.drained();
    this.#advance();
  }

  /** Called by the server's sweep timer. */
  checkTimeout(now: number): void {
    if (now >= this.deadline && this.#state !== 'closed') this.#record(() => (this.#timedOut = true));
  }

  /** Server shutdown: an idle connection closes now, a busy one after its response. */
  shutdown(): void {
    this.#record(() => (this.#shutdown = true));
  }

  // ---- parser events (ParserSink): recorded, acted on by the loop --------------

  onRequestBegin(): void {
    this.#begun = true;
  }

  onRequestHead(head: RequestHead): void {
    if (this.#failure !== null) return;
    this.#report.trace?.(
      `llhttp head: ${head.method} ${head.url} HTTP/${head.versionMajor}.${head.versionMinor}, ${head.rawHeaders.length / 2} fields`,
    );
    const request = new Request(head, this.#report.peer);
    const verdict = validateHead(request, head, this.#ctx.settings.limits);
    if (verdict.error !== null) {
      this.#failure = { error: verdict.error, extra: verdict.extraHeaders, request };
      return;
    }
    this.#bodyBytes = 0;
    this.#exchange = new ConnectionExchange(this, request, {
      clientKeepAlive: head.keepAlive,
      expectsContinue: verdict.expectsContinue,
    });
    this.#dispatchPending = true;
  }

  onRequestBody(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (this.#failure !== null || exchange === null) return;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > this.#ctx.settings.limits.maxBodySize) {
      this.#failure = {
        error: { name: 'bodyTooLarge', detail: 'request body over the limit' },
        extra: [],
        request: null,
      };
      return;
    }
    this.deadline = performance.now() + this.#ctx.settings.limits.bodyTimeoutMs;
    exchange.deliverBody(chunk);
  }

  onRequestEnd(): void {
    this.#report.trace?.(`llhttp message end${this.#bodyBytes > 0 ? ` (${this.#bodyBytes} body bytes)` : ''}`);
    this.#requestEnded = true;
  }

  // ---- ExchangeHost ------------------------------------------------------------

  keepAliveAfter(exchange: ConnectionExchange, closeDelimited: boolean, handlerClose: boolean): boolean {
    return keepsAlive({
      clientKeepAlive: exchange.clientKeepAlive,
      requests: this.#requests,
      maxRequests: this.#ctx.settings.limits.maxRequestsPerConnection,
      serverDraining: this.#ctx.draining || this.#shutdown,
      bodyWithheld: exchange.bodyWithheld,
      closeDelimited,
      handlerClose,
    });
  }

  exchangeChanged(): void {
    this.#advance();
  }

  logError(exchange: ConnectionExchange, message: string): void {
    this.#report.error(exchange.request, message);
  }

  // ---- the loop ----------------------------------------------------------------

  #advance(): void {
    if (this.#advancing) {
      this.#again = true; // the running loop will look again
      return;
    }
    this.#advancing = true;
    // Answers produced while one read is handled (pipelining) leave in one writev.
    this.socket.cork();
    try {
      do {
        this.#again = false;
        this.#step();
      } while (this.#again);
    } catch (err) {
      // A fault in porta itself: it stays in this connection.
      this.#report.error(this.#exchange?.request ?? null, `internal error: ${(err as Error).stack ?? String(err)}`);
      this.#destroy();
    } finally {
      this.#advancing = false;
      this.socket.uncork();
    }
    this.#applyReading();
  }

  /** One step: act on the first recorded fact that matters in this state; #again if anything changed. */
  #step(): void {
    const exchange = this.#exchange;
    switch (this.#state) {
      case 'idle':
        if (this.#failure !== null) return this.#answerFailure();
        if (this.#begun) return this.#enter('readingHead');
        if (this.#canParse()) return this.#parse();
        // Answers may still be queued: FIN after them. A keep-alive that timed out just goes.
        if (this.#shutdown || this.#peerEnded) return this.#close();
        if (this.#timedOut) return this.#destroy();
        return;
      case 'readingHead':
        if (this.#failure !== null) return this.#answerFailure();
        if (this.#dispatchPending) return this.#dispatch();
        if (this.#canParse()) return this.#parse();
        if (this.#peerEnded) return this.#close(); // RFC 9112 §9.6: a head cut off is just a close
        if (this.#timedOut) return this.#fail('headTimeout', 'request head not received in time');
        return;
      case 'readingBody':
        if (this.#failure !== null) return this.#answerFailure();
        if (exchange === null) return this.#destroy();
        if (this.#requestEnded && !exchange.requestComplete) {
          exchange.deliverEnd();
          return this.#enter('responding');
        }
        if (exchange.state === 'aborted' || exchange.state === 'gone') return this.#endExchange();
        if (exchange.state === 'finished') {
          // Answered before the body ended. Closing is allowed (RFC 9112 §9.6)
          // and cheaper than reading a body nobody wants, unless it is wanted
          // on a persistent connection: then the rest is read and dropped.
          if (exchange.closeAfter) return this.#endExchange();
          return this.#enter('discarding');
        }
        if (this.#canParse()) return this.#parse();
        if (this.#peerEnded) return this.#abort(exchange, 'the client closed before the body ended');
        if (this.#timedOut) {
          // Only a client that stalls is timed out; a handler that has not
          // asked for the body yet (or paused it) has limits of its own.
          if (exchange.wantsBody) return this.#fail('bodyTimeout', 'request body stalled');
          return this.#extendDeadline();
        }
        return;
      case 'responding':
        if (exchange === null) return this.#destroy();
        switch (exchange.state) {
          case 'finished':
          case 'aborted':
          case 'gone':
            return this.#endExchange();
          case 'handedOff':
            return this.#enter('handedOff');
          case 'waiting':
          case 'sending':
            if (this.#timedOut) return this.#sendTimedOut();
            return;
          default:
            return unreachable(exchange.state);
        }
      case 'discarding':
        // The answer is out; a body that stalls, ends short or goes wrong just closes.
        if (this.#failure !== null || this.#peerEnded || this.#timedOut) return this.#dropAnswered();
        if (this.#requestEnded) return this.#endExchange();
        if (this.#canParse()) return this.#parse();
        return;
      case 'draining':
        if (!this.socket.writableNeedDrain) return this.#enter('idle');
        if (this.#timedOut) return this.#destroy();
        return;
      case 'handedOff':
        if (exchange === null || exchange.state === 'gone') return this.#destroy();
        if (exchange.state === 'finished') return this.#takeBack(exchange);
        return;
      case 'closing':
        this.#input = null; // dropped: only the peer's FIN is awaited (RFC 9112 §9.6)
        if (this.#peerEnded) return void this.socket.destroySoon();
        if (this.#timedOut) return this.#destroy();
        return;
      case 'closed':
        return;
      default:
        return unreachable(this.#state);
    }
  }

  #enter(state: ConnectionState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(state)) {
      throw new Error(`connection: no transition ${from} → ${state}`);
    }
    this.#report.trace?.(`state ${from} → ${state}`);
    this.#state = state;
    this.#timedOut = false;
    this.deadline = performance.now() + stateTimeout(state, this.#ctx.settings.limits);
    this.#again = true;
  }

  // ---- reading -------------------------------------------------------------------

  /** Is there something for the parser, and may it read now? */
  #canParse(): boolean {
    if (this.#input === null && !this.#parserPaused) return false;
    switch (this.#state) {
      case 'idle':
      case 'readingHead':
      case 'discarding':
        return true;
      case 'readingBody':
        return this.#exchange?.wantsBody === true;
      default:
        return false;
    }
  }

  #parse(): void {
    const chunk = this.#input ?? EMPTY;
    this.#input = null;
    if (this.#parserPaused) {
      this.#parserPaused = false;
      this.#parser.resume();
    }
    const status = this.#parser.execute(chunk);
    switch (status) {
      case 'ok':
        if (this.#parser.awaitingHttp09Head && this.#failure === null) {
          this.#failure = {
            error: { name: 'badVersion', detail: 'HTTP/0.9 request line (no version)' },
            extra: [],
            request: null,
          };
        }
        break;
      case 'paused':
        // Stopped at a message end: the rest waits (possibly empty, see parser/types.ts).
        this.#parserPaused = true;
        this.#input = chunk.subarray(this.#parser.offset);
        break;
      case 'error': {
        const error = this.#parser.error;
        if (error !== null && this.#failure === null) {
          this.#report.trace?.(`llhttp error ${error.code}: ${error.reason}`);
          const name = parseErrorName(error.code, error.reason, error.following);
          this.#failure = { error: { name, detail: `${error.code}: ${error.reason}` }, extra: [], request: null };
        }
        break;
      }
      default:
        unreachable(status);
    }
    this.#again = true;
  }

  /** The one place that decides whether the socket is read. */
  #applyReading(): void {
    let read: boolean;
    switch (this.#state) {
      case 'idle':
      case 'readingHead':
      case 'discarding':
        read = this.#input === null && !this.#parserPaused;
        break;
      case 'readingBody':
        read = this.#input === null && this.#exchange?.wantsBody === true;
        break;
      case 'closing':
        read = true;
        break;
      case 'responding':
      case 'draining':
      case 'handedOff': // Node must not read a socket a program writes to
      case 'closed':
        read = false;
        break;
      default:
        read = unreachable(this.#state);
    }
    if (read === this.#reading || this.socket.destroyed) return;
    this.#reading = read;
    if (read) this.socket.resume();
    else this.socket.pause();
  }

  // ---- requests and answers ------------------------------------------------------

  #dispatch(): void {
    const exchange = this.#exchange as ConnectionExchange;
    this.#dispatchPending = false;
    this.#begun = false;
    this.#requests++;
    const complete = this.#requestEnded;
    if (complete) exchange.deliverEnd();
    this.#enter(complete ? 'responding' : 'readingBody');
    try {
      this.#ctx.dispatch(exchange);
    } catch (err) {
      exchange.logError(`internal error: handler threw: ${(err as Error).stack ?? String(err)}`);
      exchange.sendError(500, 'internal error');
    }
  }

  /** The exchange is over (finished, aborted or gone): log it, then read on, drain, or close. */
  #endExchange(): void {
    const exchange = this.#exchange as ConnectionExchange;
    this.#exchange = null;
    this.#requestEnded = false;
    this.#begun = false;
    const state = exchange.state;
    if (state === 'aborted') exchange.logError(`response aborted: ${exchange.abortReason}`);
    if (state !== 'gone')
      this.#report.answered(exchange.request, exchange.status, exchange.bytesSent, exchange.closeAfter);
    if (state !== 'finished') return this.#destroy();
    if (exchange.closeAfter || this.#shutdown) return this.#close();
    if (this.socket.writableNeedDrain) return this.#enter('draining');
    return this.#enter('idle');
  }

  #abort(exchange: ConnectionExchange, reason: string): void {
    exchange.abort(reason);
    this.#again = true;
  }

  /** Only a client that stopped reading is given up on; a slow handler has its own timeout. */
  #sendTimedOut(): void {
    if (this.socket.writableLength > 0) return this.#destroy();
    this.#extendDeadline();
  }

  #extendDeadline(): void {
    this.#timedOut = false;
    this.deadline = performance.now() + stateTimeout(this.#state, this.#ctx.settings.limits);
  }

  /** An exchange already answered, whose request then went wrong: log it, close hard. */
  #dropAnswered(): void {
    this.#failure = null;
    const exchange = this.#exchange;
    this.#exchange = null;
    if (exchange !== null) this.#report.answered(exchange.request, exchange.status, exchange.bytesSent, true);
    this.#destroy();
  }

  /** The program that had the socket as its stdout is done with it. */
  #takeBack(exchange: ConnectionExchange): void {
    this.#exchange = null;
    this.#report.answered(exchange.request, exchange.status, exchange.bytesSent, true);
    // Both launchers left the fd blocking: make it non-blocking before Node
    // reads it again (lingering close); if that cannot be done, just close.
    if (!restoreNonBlocking(this.socket)) return this.#destroy();
    this.#close();
  }

  #fail(name: RequestError['name'], detail: string): void {
    this.#failure = { error: { name, detail }, extra: [], request: null };
    this.#answerFailure();
  }

  /** A request no handler answers: the errors table does, then the connection closes. */
  #answerFailure(): void {
    const failure = this.#failure as Failure;
    this.#failure = null;
    const exchange = this.#exchange;
    if (exchange?.headSent) {
      // Bytes of a response are out: nothing more can be said (RFC 9112 §9.6).
      if (exchange.state === 'finished') return this.#dropAnswered();
      return this.#abort(exchange, failure.error.detail);
    }
    const request = failure.request ?? exchange?.request ?? null;
    if (exchange !== null) {
      this.#exchange = null;
      exchange.detach(); // its handler stops: the connection answers instead
    }
    const status = ERROR_STATUS[failure.error.name];
    this.#report.error(request, `${status}: ${failure.error.detail}`);
    this.socket.write(closingErrorResponse(status, failure.error.detail, failure.extra, request?.method === 'HEAD'));
    this.#report.answered(request, status, 0, true);
    this.#close();
  }

  // ---- endings -------------------------------------------------------------------

  /** FIN after what is queued; read and drop until the peer closes or the linger time ends. */
  #close(): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const exchange = this.#exchange;
    this.#exchange = null;
    exchange?.detach();
    this.#enter('closing');
    this.#input = null;
    this.socket.end();
  }

  #destroy(): void {
    if (this.#state === 'closed') return;
    this.socket.destroy();
    this.#finish();
  }

  /** The socket is gone (destroyed by us, or 'close'): everything still pending stops here, once. */
  #finish(): void {
    if (this.#state === 'closed') return;
    this.#enter('closed');
    this.#input = null;
    this.#parser.destroy();
    const exchange = this.#exchange;
    this.#exchange = null;
    exchange?.detach();
    this.#ctx.onClosed(this);
  }
}
