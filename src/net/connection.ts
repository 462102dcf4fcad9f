// The connection state machine: one per socket, from accept to close, in the
// shape of lighttpd's connection_state_machine_loop. Event handlers (socket
// data/end/drain/close, parser events, the exchange's changes, timeouts) only
// record what happened and call #advance(), which switches on the state and
// loops until nothing more can be done, then decides in one place whether the
// socket is read. Transitions go through #enter(), checked against
// TRANSITIONS (states.ts). The parser stops at every message end, so requests
// are answered strictly in order (pipelining) and never read ahead of.

import { ERROR_STATUS, type RequestError } from '../http/errors';
import type { Request } from '../http/request';
import { closingErrorResponse } from '../http/response';
import type { ConnectionTrace } from '../trace';
import type { ConnectionContext, ExchangeHost } from './contracts';
import { ConnectionExchange } from './exchange';
import { closeReason, type HeadVerdict } from './head';
import { type Failure, type ReaderHost, RequestReader } from './reader';
import { ConnectionReport } from './report';
import {
  type ConnectionSocket,
  holdReading,
  listenTo,
  restoreNonBlocking,
  resumeReading,
  type SocketEvents,
} from './socket';
import { type ConnectionState, mayParse, mayRead, stateTimeout, TRANSITIONS, unreachable } from './states';

export type { ConnectionState } from './states';
export type { ConnectionContext } from './contracts';

export class Connection implements ReaderHost, ExchangeHost, SocketEvents {
  readonly socket: ConnectionSocket;
  /**
   * When the sweep first saw the current state (or the last body bytes), or
   * -1 until it has: the state's time runs from there. Entering a state costs
   * one assignment, no clock read; a timeout fires between its length and one
   * sweep tick later, never early.
   */
  #since = -1;
  #state: ConnectionState = 'idle';

  readonly #ctx: ConnectionContext;
  readonly #reader: RequestReader;
  readonly #report: ConnectionReport;
  #exchange: ConnectionExchange | null = null;

  // What happened outside the parser, recorded by the event handlers; the
  // request side's facts are the reader's (reader.ts). #advance() acts on both.
  #peerEnded = false;
  #timedOut = false;
  #shutdown = false;

  #requests = 0;
  #reading = true;
  #advancing = false;
  #again = false;

  constructor(socket: ConnectionSocket, ctx: ConnectionContext) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#report = new ConnectionReport(socket, ctx.log, ctx.trace, ctx.secure);
    const { parser, limits, proxyProtocol } = ctx.settings;
    this.#reader = new RequestReader(this, parser, limits, this.#report.peer, ctx.trusted, proxyProtocol);
    listenTo(socket, this);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  // ---- events: record, then advance --------------------------------------------

  #record(note: () => void): void {
    note();
    this.#advance();
  }

  // ---- the socket's events (SocketEvents, wired by socket.ts listenTo) -----------

  socketData(chunk: Buffer): void {
    this.#report.read(chunk);
    if (this.#state === 'closing' || this.#state === 'closed' || this.#state === 'handedOff') return;
    this.#reader.receive(chunk);
    this.#advance();
  }

  socketEnd(): void {
    this.#record(() => (this.#peerEnded = true));
  }

  socketDrain(): void {
    this.#exchange?.drained();
    this.#advance();
  }

  socketClose(): void {
    this.#finish('the socket closed');
  }

  /** Called by the server's sweep timer. */
  checkTimeout(now: number): void {
    if (this.#since < 0) {
      this.#since = now;
      return;
    }
    if (now - this.#since < stateTimeout(this.#state, this.#ctx.settings.limits) || this.#state === 'closed') return;
    this.#record(() => (this.#timedOut = true));
  }

  /** Server shutdown: an idle connection closes now, a busy one after its response. */
  shutdown(): void {
    this.#record(() => (this.#shutdown = true));
  }

  /** The shutdown grace is over: whatever is still in flight is cut. */
  abandon(): void {
    this.#destroy();
  }

  // ---- the reader's events (ReaderHost) -------------------------------------------

  get trace(): ConnectionTrace | null {
    return this.#report.trace;
  }

  headAccepted(request: Request, verdict: HeadVerdict, clientKeepAlive: boolean): void {
    const version = this.#ctx.settings.protocol;
    this.#report.responseBegins();
    this.#exchange = new ConnectionExchange(this, request, {
      clientKeepAlive,
      // HTTP/1.0 has no interim answers (RFC 9110 §15.2): a 1.0 server sends no 100.
      expectsContinue: verdict.expectsContinue && version === '1.1',
      version,
    });
  }

  bodyReceived(chunk: Buffer): void {
    this.#since = -1; // the body moves: its stall timeout starts again
    this.#exchange?.deliverBody(chunk);
  }

  // ---- ExchangeHost ------------------------------------------------------------

  closeAfter(exchange: ConnectionExchange, closeDelimited: boolean, handlerClose: boolean): string | null {
    return closeReason({
      clientKeepAlive: exchange.clientKeepAlive,
      requests: this.#requests,
      maxRequests: this.#ctx.settings.limits.maxRequestsPerConnection,
      serverDraining: this.#ctx.draining || this.#shutdown,
      oneShot: this.#ctx.settings.protocol === '1.0',
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
    const reader = this.#reader;
    switch (this.#state) {
      case 'idle':
        // A PROXY header missing or bad (--proxy-protocol): the bytes were never HTTP, nothing is answered.
        if (reader.refused !== null) return this.#refuse(reader.refused);
        if (reader.failure !== null) return this.#answerFailure();
        if (reader.begun) return this.#enter('readingHead', 'llhttp: a request began');
        if (this.#canParse()) return this.#parse();
        // Answers may still be queued: FIN after them. A keep-alive that timed out just goes.
        if (this.#shutdown) return this.#close('the server is stopping');
        if (this.#peerEnded) return this.#close('the client closed its side (FIN): no more requests');
        if (this.#timedOut) return this.#destroy('the keep-alive timeout passed');
        return;
      case 'readingHead':
        if (reader.failure !== null) return this.#answerFailure();
        if (reader.dispatchPending) return this.#dispatch();
        if (this.#canParse()) return this.#parse();
        if (this.#peerEnded) return this.#close('the client closed mid-head: just a close (RFC 9112 §9.6)');
        if (this.#timedOut) return this.#fail('headTimeout', 'request head not received in time');
        return;
      case 'readingBody':
        if (reader.failure !== null) return this.#answerFailure();
        if (exchange === null) return this.#destroy();
        if (reader.requestEnded && !exchange.requestComplete) {
          exchange.deliverEnd();
          return this.#enter('responding', 'llhttp: the body ended');
        }
        if (exchange.state === 'aborted' || exchange.state === 'gone') return this.#endExchange();
        if (exchange.state === 'finished') {
          // Answered before the body ended. Closing is allowed (RFC 9112 §9.6)
          // and cheaper than reading a body nobody wants, unless it is wanted
          // on a persistent connection: then the rest is read and dropped.
          if (exchange.closeAfter) return this.#endExchange();
          return this.#enter('discarding', 'answered before the body ended: the rest is read and dropped');
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
            // The program is started once porta's head is written (later):
            // from here until it is done, porta never reads the socket.
            holdReading(this.socket);
            return this.#enter('handedOff', 'the socket is lent to a program as its stdout');
          case 'waiting':
          case 'sending':
            if (this.#timedOut) return this.#sendTimedOut();
            return;
          default:
            return unreachable(exchange.state);
        }
      case 'discarding':
        // The answer is out; a body that stalls, ends short or goes wrong just closes.
        if (reader.failure !== null || this.#peerEnded || this.#timedOut) return this.#dropAnswered();
        if (reader.requestEnded) return this.#endExchange();
        if (this.#canParse()) return this.#parse();
        return;
      case 'draining':
        if (!this.socket.writableNeedDrain) return this.#enter('idle', 'the client read the answer: the next request');
        if (this.#timedOut) return this.#destroy('the client stopped reading (--send-timeout)');
        return;
      case 'handedOff':
        if (exchange === null || exchange.state === 'gone') return this.#destroy();
        if (exchange.state === 'finished') return this.#takeBack(exchange);
        return;
      case 'closing':
        reader.discard(); // dropped: only the peer's FIN is awaited (RFC 9112 §9.6)
        if (this.#peerEnded) return void this.socket.destroySoon();
        if (this.#timedOut) return this.#destroy('the linger time passed without the peer closing');
        return;
      case 'closed':
        return;
      default:
        return unreachable(this.#state);
    }
  }

  #enter(state: ConnectionState, cause: string): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(state)) {
      throw new Error(`connection: no transition ${from} → ${state}`);
    }
    this.#report.trace?.('state', `state ${from} → ${state} (${cause})`, { from, to: state, cause });
    this.#state = state;
    this.#timedOut = false;
    this.#since = -1;
    this.#again = true;
  }

  // ---- reading -------------------------------------------------------------------

  /** Is there something for the parser, and may it read now? */
  #canParse(): boolean {
    return this.#reader.hasInput && mayParse(this.#state, this.#exchange?.wantsBody === true);
  }

  #parse(): void {
    this.#reader.parse();
    this.#again = true;
  }

  /** The one place that pauses or resumes the socket (the rule is states.ts mayRead). */
  #applyReading(): void {
    const read = mayRead(this.#state, this.#reader.hasInput, this.#exchange?.wantsBody === true);
    if (read === this.#reading || this.socket.destroyed) return;
    this.#reading = read;
    if (read) this.socket.resume();
    else this.socket.pause();
  }

  // ---- requests and answers ------------------------------------------------------

  #dispatch(): void {
    const exchange = this.#exchange as ConnectionExchange;
    this.#reader.begun = false;
    this.#reader.dispatchPending = false;
    this.#requests++;
    const complete = this.#reader.requestEnded;
    if (complete) exchange.deliverEnd();
    if (complete) this.#enter('responding', 'the head is dispatched, the request is whole');
    else this.#enter('readingBody', 'the head is dispatched, its body follows');
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
    this.#reader.nextRequest();
    const state = exchange.state;
    if (state === 'aborted') exchange.logError(`response aborted: ${exchange.abortReason}`);
    if (state !== 'gone') {
      const why = exchange.closeAfter ? exchange.closeWhy : this.#shutdown ? 'the server is stopping' : null;
      this.#report.answered(exchange.request, exchange.status, exchange.bytesSent, why, exchange.upstreamUs);
    }
    if (state === 'gone') return this.#destroy();
    // Cut short: what was written still goes, then the FIN, so the client
    // sees the truncation (no length reached, no last chunk); a reset where
    // only a reset can say it (a close-delimited body).
    if (state === 'aborted') {
      const cut = `the answer was cut short (${exchange.abortReason})`;
      return exchange.cutNeedsReset ? this.#destroy(`${cut}: a reset says so`) : this.#close(cut);
    }
    if (exchange.closeAfter) return this.#close(exchange.closeWhy);
    if (this.#shutdown) return this.#close('the server is stopping');
    if (this.socket.writableNeedDrain) return this.#enter('draining', 'answered; the client has yet to read it all');
    return this.#enter('idle', 'answered: keep-alive, the next request');
  }

  #abort(exchange: ConnectionExchange, reason: string): void {
    exchange.abort(reason);
    this.#again = true;
  }

  /** Only a client that stopped reading is given up on; a slow handler has its own timeout. */
  #sendTimedOut(): void {
    if (this.socket.writableLength > 0) return this.#destroy('the client stopped reading (--send-timeout)');
    this.#extendDeadline();
  }

  #extendDeadline(): void {
    this.#timedOut = false;
    this.#since = -1;
  }

  /**
   * An exchange already answered whose request then went wrong (its body
   * stalled, ended short, or broke the parser): log it and close, with a FIN
   * after the answer, which is still owed to a slow reader.
   */
  #dropAnswered(): void {
    this.#reader.failure = null;
    const exchange = this.#exchange;
    this.#exchange = null;
    if (exchange !== null) {
      const why = 'the request went wrong after its answer';
      this.#report.answered(exchange.request, exchange.status, exchange.bytesSent, why, exchange.upstreamUs);
    }
    this.#close('the request went wrong after its answer');
  }

  /** The program that had the socket as its stdout is done with it. */
  #takeBack(exchange: ConnectionExchange): void {
    this.#exchange = null;
    // The program wrote its answer to the socket itself: porta never saw those bytes.
    this.#report.answered(exchange.request, exchange.status, null, exchange.closeWhy, exchange.upstreamUs);
    // Both launchers left the fd blocking: make it non-blocking before Node
    // reads it again (lingering close); if that cannot be done, just close.
    if (!restoreNonBlocking(this.socket) || !resumeReading(this.socket)) return this.#destroy();
    this.#close(exchange.closeWhy);
  }

  #fail(name: RequestError['name'], detail: string): void {
    this.#reader.fail(name, detail);
    this.#answerFailure();
  }

  /** A request no handler answers: the errors table does, then the connection closes. */
  #answerFailure(): void {
    const failure = this.#reader.failure as Failure;
    this.#reader.failure = null;
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
    const response = closingErrorResponse(status, failure.error.detail, failure.extra, {
      headOnly: request?.method === 'HEAD',
      version: this.#ctx.settings.protocol,
    });
    this.#report.responseBegins();
    this.socket.write(response.bytes);
    this.#report.answered(request, status, response.bodyBytes, `${status} closes the connection (RFC 9112 §9.6)`);
    this.#close(`${status} closes the connection (RFC 9112 §9.6)`);
  }

  // ---- endings -------------------------------------------------------------------

  /** FIN after what is queued; read and drop until the peer closes or the linger time ends. */
  #close(cause: string): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const exchange = this.#exchange;
    this.#exchange = null;
    exchange?.detach();
    this.#enter('closing', `${cause}; FIN after the last byte, then wait for the peer's`);
    this.#reader.discard();
    this.socket.end();
  }

  /** Refused before any HTTP: logged, then closed without an answer. */
  #refuse(reason: string): void {
    this.#report.error(null, `connection refused: ${reason}`);
    this.#destroy();
  }

  #destroy(cause = 'porta closed it at once'): void {
    if (this.#state === 'closed') return;
    this.socket.destroy();
    this.#finish(cause);
  }

  /** The socket is gone (destroyed by us, or 'close'): everything still pending stops here, once. */
  #finish(cause: string): void {
    if (this.#state === 'closed') return;
    this.#enter('closed', cause);
    this.#report.trace?.('close', `connection closed: ${cause}`, { why: cause });
    this.#reader.destroy();
    const exchange = this.#exchange;
    this.#exchange = null;
    exchange?.detach();
    this.#ctx.onClosed(this);
  }
}
