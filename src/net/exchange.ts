// One request's response writer: framing (Content-Length, chunked or
// close-delimited; framing.ts writes the bytes), HEAD suppression, 100
// Continue, the body hand-over from the parser, and lending the socket to a
// CGI program. Its state is its own: the connection (ExchangeHost) asks,
// never writes it. Once the exchange is gone every writer call is a no-op
// returning 'gone'.

import type { BodyFraming, BodyReader, Exchange, HandedSocket, LentBody, WriteResult } from '../http/exchange';
import { type FixedHeadSpec, fixedHead, type HeadMemo, isFixed } from '../http/head-memo';
import type { Request } from '../http/request';
import type { ConnectionTrace } from '../trace';
import {
  ERROR_PAGE_TYPE,
  buildHead,
  errorPage,
  handlerFields,
  type HeadFraming,
  type HeaderList,
  type ResponseVersion,
  responseFraming,
} from '../http/response';
import type { ExchangeHost, ExchangeOptions } from './contracts';
import { openHead, writeBody, writeEnd } from './framing';
import type { ConnectionReport } from './report';
import type { ExchangeState } from './states';
import { RequestBody } from './request-body';
import { peerReset, socketFd } from './socket';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** What an exchange tells the outside through the connection's report: a response is due, the trace, errors. */
type ExchangeReport = Pick<ConnectionReport, 'responseBegins' | 'trace' | 'error'>;

export class ConnectionExchange implements Exchange {
  readonly request: Request;
  readonly headOnly: boolean;
  readonly clientKeepAlive: boolean;
  readonly #version: ResponseVersion;

  readonly #host: ExchangeHost;
  readonly #report: ExchangeReport;
  #state: ExchangeState = 'waiting';
  #status = 0;
  #bytesSent = 0;
  #closeAfter = false;
  /** Why the connection closes after this response (the trace says it). */
  #closeWhy = '';
  #abortReason = '';
  #framing: HeadFraming = { kind: 'none' };
  #bodyless = false;
  #closeDelimited = false;
  /** Head text held back to go out in one write with the first body bytes. */
  #pendingHead: string | null = null;
  /** Where #pendingHead came from when the handler's fields are fixed (http/head-memo.ts). */
  #headMemo: HeadMemo | null = null;
  readonly #body: RequestBody;
  #drainCallback: (() => void) | null = null;
  /** The body's socket is lent (lendBody): porta writes nothing until giveBack(). */
  #lent = false;
  #closeCallbacks: Array<() => void> = [];
  #overflowLogged = false;
  /** Aborted because the client reset (seen by a borrower of the socket, as sendfile): no FIN can follow. */
  #clientGone = false;
  #upstreamUs: number | null = null;
  /** Lent to a program (handOff): did porta write the status line (socket mode), or the program (nph-)? */
  #handedHead: boolean | null = null;

  constructor(host: ExchangeHost, report: ExchangeReport, request: Request, options: ExchangeOptions) {
    this.#host = host;
    this.#report = report;
    report.responseBegins();
    this.request = request;
    this.headOnly = request.method === 'HEAD';
    this.clientKeepAlive = options.clientKeepAlive;
    // HTTP/1.0 has no interim answers (RFC 9110 §15.2): a 1.0 server sends no 100.
    this.#body = new RequestBody(options.expectsContinue && options.version === '1.1');
    this.#version = options.version;
  }

  get trace(): ConnectionTrace | null {
    return this.#report.trace;
  }

  // ---- what the connection asks ------------------------------------------------

  get state(): ExchangeState {
    return this.#state;
  }
  get status(): number {
    return this.#status;
  }
  get bytesSent(): number {
    return this.#bytesSent;
  }
  /** The response said (or has come to need) Connection: close. */
  get closeAfter(): boolean {
    return this.#closeAfter;
  }
  get closeWhy(): string {
    return this.#closeAfter ? this.#closeWhy : '';
  }
  /** How long a CGI program took (µs), for the access log; null when none ran. */
  get upstreamUs(): number | null {
    return this.#upstreamUs;
  }
  get abortReason(): string {
    return this.#abortReason;
  }
  /** null: never lent to a program; true: porta wrote the status line; false: the program did (nph-). */
  get handedHead(): boolean | null {
    return this.#handedHead;
  }
  /**
   * Cut short, would a FIN pass for the end of this response? Not for a body
   * delimited by the close (HTTP/1.0 without a length): only a reset tells
   * that client it is incomplete. With a length or chunks, a FIN after the
   * bytes written is plain truncation.
   */
  get cutNeedsReset(): boolean {
    return this.#closeDelimited && !this.#bodyless;
  }
  /** Cut short by the client itself (a reset seen on a lent socket): the connection is already dead. */
  get clientGone(): boolean {
    return this.#clientGone;
  }
  get requestComplete(): boolean {
    return this.#body.complete;
  }
  /** Answered while the client still holds its body back for our 100 Continue. */
  get bodyWithheld(): boolean {
    return this.#body.withheld;
  }
  /** Should the socket be read for this exchange's body now? */
  get wantsBody(): boolean {
    return this.#body.wanted;
  }

  // ---- Exchange: what handlers call --------------------------------------------

  /** A response has begun on the wire (or the socket was lent, or the exchange is over). */
  get headSent(): boolean {
    return this.#state !== 'waiting' && !(this.#state === 'sending' && this.#pendingHead !== null);
  }

  get gone(): boolean {
    return this.#state === 'gone' || this.#state === 'aborted';
  }

  sendHead(status: number, headers: HeaderList, framing: BodyFraming): WriteResult {
    if (this.#state !== 'waiting') return 'gone';
    // A fixed list (a file's fields) was checked once, when it was declared.
    const fixed = isFixed(headers);
    const prepared = fixed ? { fields: headers, close: false } : handlerFields(headers);
    if ('unsafe' in prepared) {
      this.logError(`internal error: unsafe value for response field ${JSON.stringify(prepared.unsafe)}`);
      this.#sendErrorPage(500, 'internal error', []);
      return 'gone';
    }
    const { fields, close: handlerClose } = prepared;
    const chunkedOk = this.request.versionMinor >= 1 && this.#version === '1.1';
    const { head: headFraming, bodyless, closeDelimited } = responseFraming(status, framing, chunkedOk);
    const closeWhy = this.#host.closeAfter(this, closeDelimited, handlerClose);
    if (closeWhy !== null) this.#closeWhy = closeWhy;
    const keepAlive = closeWhy === null;
    this.#status = status;
    this.#closeAfter = !keepAlive;
    this.#closeDelimited = closeDelimited;
    this.#framing = headFraming;
    this.#bodyless = bodyless || this.headOnly;
    const connection = !keepAlive ? 'close' : this.request.versionMinor === 0 ? 'keep-alive' : null;
    const spec: FixedHeadSpec = { status, fields, framing: headFraming, connection, version: this.#version };
    this.#headMemo = fixed ? fixedHead(spec) : null;
    this.#pendingHead = this.#headMemo === null ? buildHead(spec) : this.#headMemo.head;
    this.#state = 'sending';
    return 'ok';
  }

  write(chunk: Buffer): WriteResult {
    if (this.#state !== 'sending') return 'gone';
    if (this.#lent) return this.#whileLent('write');
    const socket = this.#host.socket;
    // HEAD, 204 and 304 have no body (RFC 9110 §9.3.2, §15.3.5, §15.4.5): drop it.
    if (this.#bodyless || chunk.length === 0) return socket.writableNeedDrain ? 'full' : 'ok';
    const framing = this.#framing;
    let body = chunk;
    if (framing.kind === 'length' && this.#bytesSent + body.length > framing.length) {
      // Never a byte past the declared length: the client would read it as the
      // start of the next response. The connection closes after this one.
      const room = framing.length - this.#bytesSent;
      if (!this.#overflowLogged) {
        this.#overflowLogged = true;
        this.logError(`response body longer than its Content-Length ${framing.length}: the rest dropped`);
      }
      this.#closeAfter = true;
      this.#closeWhy = 'the body ran past its Content-Length';
      if (room <= 0) return socket.writableNeedDrain ? 'full' : 'ok';
      body = body.subarray(0, room);
    }
    this.#bytesSent += body.length;
    const head = this.#pendingHead;
    this.#pendingHead = null;
    writeBody(socket, framing.kind === 'chunked', head, this.#headMemo, body);
    return socket.writableNeedDrain ? 'full' : 'ok';
  }

  onDrain(callback: () => void): void {
    this.#drainCallback = this.contain(callback);
  }

  end(): WriteResult {
    if (this.#state === 'waiting') {
      this.logError('internal error: the response ended before it began');
      this.#sendErrorPage(500, 'internal error', []);
      return 'gone';
    }
    if (this.#state !== 'sending') return 'gone';
    if (this.#lent) return this.#whileLent('end');
    const framing = this.#framing;
    if (framing.kind === 'length' && !this.#bodyless && this.#bytesSent < framing.length) {
      // The promised length was not met: the client must see the truncation.
      this.abort(`body was ${this.#bytesSent} bytes, Content-Length said ${framing.length}`);
      return 'gone';
    }
    const head = this.#pendingHead;
    this.#pendingHead = null;
    writeEnd(this.#host.socket, framing.kind === 'chunked' && !this.#bodyless, head, this.#headMemo);
    this.#state = 'finished';
    this.#host.exchangeChanged();
    return 'ok';
  }

  sendError(status: number, detail: string, extra: HeaderList = []): void {
    if (this.#state === 'sending' && this.#pendingHead !== null) {
      // A head was decided but not a byte of it written: an error page can still replace it.
      this.#pendingHead = null;
      this.#state = 'waiting';
    }
    if (this.#state === 'waiting') this.#sendErrorPage(status, detail, extra);
    else if (this.#state === 'sending') this.abort(`${status} after the response started: ${detail}`);
  }

  #sendErrorPage(status: number, detail: string, extra: HeaderList): void {
    const page = Buffer.from(errorPage(status, detail), 'utf8');
    this.sendHead(status, [['Content-Type', ERROR_PAGE_TYPE], ...extra], { kind: 'length', length: page.length });
    this.write(page);
    this.end();
  }

  abort(reason: string, clientGone = false): void {
    if (this.#state !== 'waiting' && this.#state !== 'sending') return;
    this.#state = 'aborted';
    this.#abortReason = reason;
    this.#clientGone = clientGone;
    this.#closeAfter = true;
    this.#closeWhy = `cut short: ${reason}`;
    this.#runCloseCallbacks();
    this.#host.exchangeChanged();
  }

  readBody(reader: BodyReader): void {
    if (this.gone) return;
    const { attached, sendContinue } = this.#body.attach(reader, this.#state !== 'waiting');
    if (!attached) return;
    // RFC 9110 §10.1.1: the client holds the body back until it hears from us.
    if (sendContinue) this.#host.socket.write(CONTINUE, 'latin1');
    if (!this.#body.flush()) this.#host.exchangeChanged(); // start reading the socket for it
  }

  pauseBody(): void {
    if (this.#body.setPaused(true)) this.#host.exchangeChanged();
  }

  resumeBody(): void {
    if (this.#body.setPaused(false)) this.#host.exchangeChanged();
  }

  onClose(callback: () => void): void {
    if (this.gone) return void queueMicrotask(this.contain(callback));
    this.#closeCallbacks.push(callback);
  }

  clientPresent(): boolean {
    if (this.gone) return false;
    if (!peerReset(this.#host.socket)) return true;
    this.abort('the client reset the connection', true);
    return false;
  }

  handOff(withHead: boolean, ready: (socket: HandedSocket | null) => void): void {
    const give = this.contain(ready);
    if (this.#state !== 'waiting' || !this.#body.complete) {
      if (!this.gone) this.logError('internal error: hand-off refused (response begun or request unread)');
      return void process.nextTick(give, null);
    }
    this.#state = 'handedOff';
    this.#status = 200;
    this.#handedHead = withHead;
    this.#closeAfter = true;
    this.#closeWhy = "the program's output ends with the connection (the socket is its stdout)";
    this.#host.exchangeChanged(); // the connection stops reading; from here it never writes
    const handed: HandedSocket = {
      fd: () => (this.#state === 'handedOff' ? socketFd(this.#host.socket) : null),
      release: (status, bytesSent, cut) => {
        if (this.#state !== 'handedOff') return;
        this.#status = status;
        this.#bytesSent = bytesSent;
        this.#state = cut === undefined ? 'finished' : 'aborted';
        if (cut !== undefined) this.#abortReason = cut;
        this.#host.exchangeChanged();
      },
    };
    // Everything queued before (pipelined answers, and in socket mode porta's
    // status line) must be on the wire before the program's first byte, or the
    // program's output, written straight to the fd, could overtake it: the
    // socket is handed over from the write callback.
    const head = withHead ? openHead(this.#version) : '';
    this.#host.socket.write(head, 'latin1', (err) => give(err === undefined || err === null ? handed : null));
  }

  lendBody(ready: (socket: LentBody | null) => void): void {
    const give = this.contain(ready);
    const framing = this.#framing;
    // sendfile(2) writes the file's bytes as they are: never into a TLS stream.
    const lendable = this.#state === 'sending' && !this.#lent && !this.#bodyless && !this.request.peer.secure;
    if (!lendable || framing.kind !== 'length') return void process.nextTick(give, null);
    const head = this.#pendingHead;
    this.#pendingHead = null;
    this.#lent = true;
    const lent: LentBody = {
      fd: () => (this.#lent && this.#state === 'sending' ? socketFd(this.#host.socket) : null),
      giveBack: (bytes) => {
        if (!this.#lent) return;
        this.#lent = false;
        const counted = Math.max(0, Math.min(bytes, framing.length - this.#bytesSent));
        this.#bytesSent += counted;
        this.#report.trace?.('write', `sendfile wrote ${counted} body bytes`, { length: counted, sendfile: true });
      },
    };
    // As in handOff: what the borrower writes straight to the fd must not
    // overtake the head or anything queued before it: lent from the write callback.
    this.#host.socket.write(head ?? '', 'latin1', (err) => {
      const ok = (err === undefined || err === null) && this.#state === 'sending';
      if (!ok) this.#lent = false;
      give(ok ? lent : null);
    });
  }

  #whileLent(what: string): WriteResult {
    this.logError(`internal error: ${what} while the body's socket is lent`);
    this.abort(`${what} while the body's socket is lent`);
    return 'gone';
  }

  logError(message: string): void {
    this.#report.error(this.request, message);
  }

  noteUpstream(us: number): void {
    this.#upstreamUs = us;
  }

  contain<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        callback(...args);
      } catch (err) {
        this.logError(`internal error: ${(err as Error).stack ?? String(err)}`);
        this.sendError(500, 'internal error');
      }
    };
  }

  // ---- what the connection tells it --------------------------------------------

  /** Body bytes from the parser: held while no answer has begun, dropped once one is under way without them. */
  deliverBody(chunk: Buffer): void {
    this.#body.deliver(chunk, this.gone, this.#state === 'waiting');
  }

  /** The request's message end from the parser. */
  deliverEnd(): void {
    this.#body.end(this.gone);
  }

  /** The socket drained: a handler waiting to write more may. */
  drained(): void {
    const callback = this.#drainCallback;
    this.#drainCallback = null;
    if (callback !== null) callback();
  }

  /** The connection is gone, or has answered for the handler: the handler stops. */
  detach(): void {
    if (this.#state === 'finished' || this.#state === 'aborted' || this.#state === 'gone') return;
    this.#state = 'gone';
    this.#pendingHead = null;
    this.#body.drop();
    this.#runCloseCallbacks();
  }

  #runCloseCallbacks(): void {
    const callbacks = this.#closeCallbacks;
    this.#closeCallbacks = [];
    this.#drainCallback = null;
    for (const callback of callbacks) {
      try {
        callback();
      } catch (err) {
        this.#report.error(this.request, `internal error in a close callback: ${(err as Error).stack ?? String(err)}`);
      }
    }
  }
}
