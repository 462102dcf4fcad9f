// The request side of a connection: bytes not yet parsed, llhttp, and what its
// events recorded for the connection's loop to act on (a request began, a head
// is ready to dispatch, the message ended, or a failure the errors table
// answers). It only records; connection.ts decides when to parse and what
// each fact means in its state.

import type { Limits } from '../config';
import type { AddressRanges } from '../http/cidr';
import { clientAddress } from '../http/forwarded';
import { parseErrorName, type RequestError } from '../http/errors';
import {
  createParser,
  type ParserKind,
  type ParserSink,
  type ParserTrace,
  type RequestHead,
  type RequestParser,
} from '../http/parser';
import { type Peer, Request } from '../http/request';
import type { HeaderList } from '../http/response';
import { type HeadVerdict, validateHead } from './head';
import { quoteBytes } from '../trace';
import { readProxyHeader } from './proxy-protocol';
import type { ConnectionReport } from './report';

/** A request that no handler will see, answered from the errors table. */
export interface Failure {
  error: RequestError;
  extra: HeaderList;
  request: Request | null;
}

/** What the reader hands the connection as events happen. */
export interface ReaderHost {
  /** A head passed validateHead: the exchange must exist before its body bytes arrive. */
  headAccepted(request: Request, verdict: HeadVerdict, clientKeepAlive: boolean): void;
  /** Body bytes of the current request (slices of the read: delivered, not kept). */
  bodyReceived(chunk: Buffer): void;
}

/** What the reader reads of the connection's report (report.ts): the peer, and --trace / --flow or null. */
type ReaderReport = Pick<ConnectionReport, 'peer' | 'trace'>;

const EMPTY = Buffer.alloc(0);

export class RequestReader implements ParserSink {
  /** A request began (its first byte) and has not been dispatched yet. */
  begun = false;
  /** The current request's head was accepted and awaits dispatch. */
  dispatchPending = false;
  /** llhttp reported the current request's message end. */
  requestEnded = false;
  failure: Failure | null = null;
  /** Requests dispatched on this connection so far. */
  requests = 0;

  readonly #host: ReaderHost;
  readonly #report: ReaderReport;
  readonly #limits: Limits;
  readonly #peer: Peer;
  readonly #kind: ParserKind;
  /**
   * llhttp, only while a request is being read. Between requests, with every
   * byte parsed, llhttp is where a fresh one starts (only the CR/LF it skips
   * seen since the last message end), so it is let go, and the next byte
   * gets a fresh one: an idle keep-alive connection holds no parser.
   */
  #parser: RequestParser | null = null;
  /** llhttp delivered a message's begin and not yet its end. */
  #inMessage = false;
  /** Bytes not yet parsed: a read, or the rest after a message end. */
  #input: Buffer | null = null;
  /**
   * Where #input starts in the latest read (for the trace's offsets): 0 for
   * a fresh read, more after a message end, negative when bytes held from an
   * earlier read come first.
   */
  #inputBase = 0;
  /** The same for the chunk being parsed now. */
  #base = 0;
  /** --trace: llhttp's callbacks, each with its offset in the read; made the first time it is asked for. */
  #parserTrace: ParserTrace | null = null;
  /**
   * Asked for by the parser at each message's start: tracing that starts
   * (a flow page opens) applies from the next request, and with nothing
   * observing the parser does no extra work.
   */
  get parserTrace(): ParserTrace | null {
    if (this.#report.trace === null) return null;
    this.#parserTrace ??= (callback, offset, length, value) => this.#traceParser(callback, offset, length, value);
    return this.#parserTrace;
  }
  /** The parser stopped at a message end: resume() and feed #input (even empty) next. */
  #paused = false;
  #bodyBytes = 0;
  readonly #trusted: AddressRanges;
  /** --proxy-protocol: the connection's first bytes are a PROXY header, still to be read. */
  #proxyHeader: boolean;
  /** Why the connection is refused before any HTTP (a PROXY header missing or bad): closed, not answered. */
  refused: string | null = null;

  constructor(
    host: ReaderHost,
    report: ReaderReport,
    kind: ParserKind,
    limits: Limits,
    trusted: AddressRanges,
    proxyHeader: boolean,
  ) {
    this.#host = host;
    this.#report = report;
    this.#limits = limits;
    const peer = report.peer;
    this.#peer = peer;
    this.#trusted = trusted;
    this.#proxyHeader = proxyHeader;
    this.#kind = kind;
    if (proxyHeader && !trusted.has(peer.remoteAddress))
      this.refused = `PROXY header from ${peer.remoteAddress}, not a trusted proxy`;
  }

  #traceParser(callback: string, offset: number, length: number, value: string | null): void {
    const trace = this.#report.trace;
    if (trace === null) return;
    // NaN: Node's binding does not say where (parser/native.ts).
    const at = Number.isNaN(offset) ? null : offset + this.#base;
    const shown = value === null ? '' : ` ${quoteBytes(Buffer.from(value, 'latin1'), 80)}`;
    const where = at === null ? '' : length > 0 ? ` [${at}, ${at + length})` : ` at ${at}`;
    const span = at === null && length > 0 ? ` (${length} bytes)` : where;
    trace('llhttp', `llhttp ${callback}${span}${shown}`, { callback, offset: at, length, value });
  }

  /** Something for the parser: bytes, or the (possibly empty) rest after a message end. */
  get hasInput(): boolean {
    if (this.#proxyHeader) return false; // nothing is HTTP until the PROXY header is read
    return this.#input !== null || this.#paused;
  }

  /** A read arrived. It may land after reading was paused: it waits here, bounded by one read. */
  receive(chunk: Buffer): void {
    const input = this.#input;
    const fresh = input === null || input.length === 0;
    this.#input = fresh ? chunk : Buffer.concat([input, chunk]);
    this.#inputBase = fresh ? 0 : -input.length;
    if (this.#proxyHeader && this.refused === null) this.#readProxyHeader();
  }

  /** The PROXY header ahead of HTTP: the peer becomes the client it names. */
  #readProxyHeader(): void {
    const input = this.#input as Buffer;
    const header = readProxyHeader(input);
    switch (header.kind) {
      case 'more':
        return; // held in #input, unparsed, until it is whole (bounded: a v2 header at most 4 KiB)
      case 'bad':
        this.refused = header.reason;
        this.#input = null;
        return;
      case 'done':
        this.#proxyHeader = false;
        if (header.client !== null) {
          this.#peer.remoteAddress = header.client.address;
          this.#peer.remotePort = header.client.port;
        }
        this.#report.trace?.(
          'llhttp',
          `PROXY header (${header.length} bytes, before llhttp): the client is ${this.#peer.remoteAddress} port ${this.#peer.remotePort}`,
          { callback: 'proxy_header', offset: 0, length: header.length, value: this.#peer.remoteAddress },
        );
        this.#input = header.length === input.length ? null : input.subarray(header.length);
        this.#inputBase += header.length;
        return;
    }
  }

  /** Drop what was not parsed (the connection is closing). */
  discard(): void {
    this.#input = null;
  }

  /** The accepted head goes to its handler: true if its message has ended too (the request is whole). */
  dispatched(): boolean {
    this.requests++;
    this.begun = false;
    this.dispatchPending = false;
    return this.requestEnded;
  }

  /** The current request is over (answered or dropped): the next one starts from scratch. */
  nextRequest(): void {
    this.begun = false;
    this.requestEnded = false;
    this.dispatchPending = false;
  }

  /** Run the parser over what is waiting; its events record facts. */
  parse(): void {
    const chunk = this.#input ?? EMPTY;
    this.#input = null;
    this.#base = this.#inputBase;
    this.#parser ??= createParser(this.#kind, this, { maxHeaderSize: this.#limits.maxHeaderSize });
    const parser = this.#parser;
    if (this.#paused) {
      this.#paused = false;
      parser.resume();
    }
    const status = parser.execute(chunk);
    switch (status) {
      case 'ok':
        if (parser.awaitingHttp09Head) this.#fail('badVersion', 'HTTP/0.9 request line (no version)');
        // Every byte parsed and no message begun: nothing llhttp holds is needed (see #parser).
        else if (!this.#inMessage) this.#releaseParser();
        return;
      case 'paused':
        // Stopped at a message end: the rest waits (possibly empty, see parser/types.ts).
        this.#paused = true;
        this.#input = chunk.subarray(parser.offset);
        this.#inputBase = this.#base + parser.offset;
        return;
      case 'error': {
        const error = parser.error;
        if (error === null) return this.#fail('badRequest', 'parser error without a cause');
        this.#report.trace?.(
          'llhttp',
          `llhttp error ${error.code} at offset ${error.offset + this.#base}: ${error.reason}`,
          {
            callback: 'error',
            offset: error.offset + this.#base,
            code: error.code,
            reason: error.reason,
          },
        );
        return this.#fail(
          parseErrorName(error.code, error.reason, error.following, error.before),
          `${error.code}: ${error.reason}`,
        );
      }
    }
  }

  /** The failure to answer, once: it is cleared. */
  takeFailure(): Failure {
    const failure = this.failure as Failure;
    this.failure = null;
    return failure;
  }

  /** Record a failure (the first one stands). */
  #fail(name: RequestError['name'], detail: string, request: Request | null = null, extra: HeaderList = []): void {
    this.failure ??= { error: { name, detail }, extra, request };
  }

  /** A failure found outside the parser (a timeout): recorded like the others. */
  fail(name: RequestError['name'], detail: string): void {
    this.#fail(name, detail);
  }

  destroy(): void {
    this.#input = null;
    this.#releaseParser();
  }

  #releaseParser(): void {
    this.#parser?.destroy();
    this.#parser = null;
  }

  // ---- llhttp's events (ParserSink) ----------------------------------------------

  onRequestBegin(): void {
    this.#inMessage = true;
    this.begun = true;
  }

  onRequestHead(head: RequestHead): void {
    if (this.failure !== null) return;
    const request = new Request(head, this.#peer);
    if (!this.#trusted.empty) request.client = clientAddress(request, this.#trusted);
    const verdict = validateHead(request, head, this.#limits);
    if (verdict.error !== null) {
      return this.#fail(verdict.error.name, verdict.error.detail, request, verdict.extraHeaders);
    }
    this.#bodyBytes = 0;
    this.dispatchPending = true;
    this.#host.headAccepted(request, verdict, head.keepAlive);
  }

  onRequestBody(chunk: Buffer): void {
    if (this.failure !== null) return;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > this.#limits.maxBodySize) return this.#fail('bodyTooLarge', 'request body over the limit');
    this.#host.bodyReceived(chunk);
  }

  onRequestEnd(): void {
    this.#inMessage = false;
    this.requestEnded = true;
  }
}
