// The connection state machine: one per socket, from accept to close, in the
// shape of lighttpd's connection_state_machine_loop. Event handlers (socket
// data/end/drain/close, parser events, the exchange's changes, timeouts) only
// record what happened and call #advance(), which switches on the state and
// loops until nothing more can be done, then decides in one place whether the
// socket is read. Transitions go through #enter(), checked against
// TRANSITIONS (states.ts). The parser stops at every message end, so requests
// are answered strictly in order (pipelining) and never read ahead of.

import type { RequestError } from '../http/errors';
import type { Request } from '../http/request';
import type { ConnectionContext, ExchangeHost } from './contracts';
import { runHandler, writeErrorAnswer } from './failures';
import { ConnectionExchange } from './exchange';
import { closeReason, type HeadVerdict } from './head';
import { type ReaderHost, RequestReader } from './reader';
import { ConnectionReport } from './report';
import { type ConnectionSocket, holdReading, listenTo, readAgain, resetConnection, type SocketEvents } from './socket';
import type { ConnectionState } from './states';
import { afterExchange, mayParse, mayRead, SERVER_STOPPING, stateTimeout, TRANSITIONS, unreachable } from './states';

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

  #reading = true;
  #advancing = false;
  #again = false;

  /** `proxied`: the client a PROXY header read before TLS named (undefined: the reader reads one, if any). */
  constructor(socket: ConnectionSocket, ctx: ConnectionContext, proxied?: { address: string; port: number } | null) {
    this.socket = socket;
    this.#ctx = ctx;
    this.#report = new ConnectionReport(socket, ctx.log, ctx.trace, ctx.secure, proxied ?? null);
    const { parser, limits, proxyProtocol } = ctx.settings;
    const readProxy = proxyProtocol && proxied === undefined;
    this.#reader = new RequestReader(this, this.#report, parser, limits, ctx.trusted, readProxy);
    listenTo(socket, this);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  // ---- events: record, then advance (SocketEvents, wired by socket.ts listenTo; the sweep; the server)

  socketData(chunk: Buffer): void {
    this.#report.read(chunk);
    if (this.#state === 'closing' || this.#state === 'closed' || this.#state === 'handedOff') return;
    this.#reader.receive(chunk);
    this.#advance();
  }

  socketEnd(): void {
    this.#peerEnded = true;
    this.#advance();
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
    this.#timedOut = true;
    this.#advance();
  }

  /** Server shutdown: an idle connection closes now, a busy one after its response. */
  shutdown(): void {
    this.#shutdown = true;
    this.#advance();
  }

  /** The shutdown grace is over: whatever is still in flight is cut. */
  abandon(): void {
    this.#destroy();
  }

  // ---- the reader's and the exchange's events (ReaderHost, ExchangeHost) ---------

  headAccepted(request: Request, verdict: HeadVerdict, clientKeepAlive: boolean): void {
    const options = { clientKeepAlive, expectsContinue: verdict.expectsContinue, version: this.#ctx.settings.protocol };
    this.#exchange = new ConnectionExchange(this, this.#report, request, options);
  }

  bodyReceived(chunk: Buffer): void {
    this.#since = -1; // the body moves: its stall timeout starts again
    this.#exchange?.deliverBody(chunk);
  }

  closeAfter(exchange: ConnectionExchange, closeDelimited: boolean, handlerClose: boolean): string | null {
    return closeReason({
      clientKeepAlive: exchange.clientKeepAlive,
      requests: this.#reader.requests,
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
        // Answers may still be queued: FIN after them. A connection yet to send its first request
        // waits for it (it may be on its way), within the idle timeout and the grace.
        if (this.#shutdown && reader.requests > 0) return this.#close(SERVER_STOPPING);
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
            // Only a client that stopped reading is given up on; a slow handler has its own timeout.
            if (!this.#timedOut) return;
            if (this.socket.writableLength > 0) return this.#destroy('the client stopped reading (--send-timeout)');
            return this.#extendDeadline();
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
        if (exchange.state === 'finished' || exchange.state === 'aborted') return this.#takeBack(exchange);
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
    if (!TRANSITIONS[from].includes(state)) throw new Error(`connection: no transition ${from} → ${state}`);
    this.#report.trace?.('state', `state ${from} → ${state} (${cause})`, { from, to: state, cause });
    this.#state = state;
    this.#timedOut = false;
    this.#since = -1;
    this.#again = true;
  }

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
    const complete = this.#reader.dispatched();
    if (complete) exchange.deliverEnd();
    if (complete) this.#enter('responding', 'the head is dispatched, the request is whole');
    else this.#enter('readingBody', 'the head is dispatched, its body follows');
    runHandler(this.#ctx.dispatch, exchange);
  }

  /** The exchange is over (finished, aborted or gone): log it, then read on, drain, or close (states.ts afterExchange). */
  #endExchange(): void {
    const exchange = this.#exchange as ConnectionExchange;
    this.#exchange = null;
    this.#reader.nextRequest();
    this.#report.exchangeEnded(exchange, this.#shutdown);
    const next = afterExchange(exchange, this.#shutdown, this.socket.writableNeedDrain);
    if (next.to === 'closed') return this.#destroy(next.cause, next.reset === true);
    if (next.to === 'closing') return this.#close(next.cause);
    this.#enter(next.to, next.cause);
  }

  #abort(exchange: ConnectionExchange, reason: string): void {
    exchange.abort(reason);
    this.#again = true;
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
    if (exchange !== null) this.#report.exchangeAnswered(exchange, 'the request went wrong after its answer');
    this.#close('the request went wrong after its answer');
  }

  /** The program that had the socket as its stdout is done with it. */
  #takeBack(exchange: ConnectionExchange): void {
    this.#exchange = null;
    // Cut short (timed out, killed, never started): the body ends with the connection, so only a reset says so.
    const cut = exchange.state === 'aborted';
    if (cut) this.#report.error(exchange.request, `response aborted: ${exchange.abortReason}`);
    // The program wrote its answer to the socket itself: porta never saw those bytes.
    this.#report.programAnswered(exchange, cut ? exchange.abortReason : null);
    if (cut)
      return this.#destroy(`the program's answer was cut short (${exchange.abortReason}): a reset says so`, true);
    // Non-blocking and read again for the lingering close; if that cannot be done, just close.
    if (!readAgain(this.socket)) return this.#destroy();
    this.#close(exchange.closeWhy);
  }

  #fail(name: RequestError['name'], detail: string): void {
    this.#reader.fail(name, detail);
    this.#answerFailure();
  }

  /** A request no handler answers: the errors table does, then the connection closes. */
  #answerFailure(): void {
    const failure = this.#reader.takeFailure();
    const exchange = this.#exchange;
    if (exchange?.headSent) {
      // Bytes of a response are out: nothing more can be said (RFC 9112 §9.6).
      if (exchange.state === 'finished') return this.#dropAnswered();
      return this.#abort(exchange, failure.error.detail);
    }
    const request = failure.request ?? exchange?.request ?? null;
    this.#exchange = null;
    exchange?.detach(); // its handler stops: the connection answers instead
    this.#close(writeErrorAnswer(this.socket, this.#report, failure, request, this.#ctx.settings.protocol));
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

  /** Close now; `reset`: with an RST, for an answer cut short that a FIN would pass off as whole. */
  #destroy(cause = 'porta closed it at once', reset = false): void {
    if (this.#state === 'closed') return;
    if (reset) resetConnection(this.socket);
    else this.socket.destroy();
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
