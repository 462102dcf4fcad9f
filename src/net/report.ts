// What one connection tells the outside: the access log, the error log and,
// with --trace or --flow, each step of its life. It only observes; nothing it
// writes is read back by porta.

import type { Peer, Request } from '../http/request';
import type { LoggedRequest, Log } from '../log';
import { type ConnectionTrace, quoteBytes, type Tracer } from '../trace';
import { type ConnectionSocket, socketAddresses, socketFd } from './socket';
import { type ExchangeState, SERVER_STOPPING } from './states';

/** What the logs read of an exchange (net/exchange.ts ConnectionExchange). */
export interface ReportedExchange {
  readonly request: Request;
  readonly state: ExchangeState;
  readonly status: number;
  readonly bytesSent: number;
  readonly closeAfter: boolean;
  readonly closeWhy: string;
  readonly abortReason: string;
  readonly upstreamUs: number | null;
  /** Lent to a program: true if porta wrote the status line (socket mode), false if the program did (nph-). */
  readonly handedHead: boolean | null;
}

/** The last connection's address strings (see the constructor). */
const recent = { remote: '', local: '' };

export class ConnectionReport {
  readonly peer: Peer;
  readonly #tracer: Tracer | null;
  readonly #trace: ConnectionTrace | null;
  /** Bytes of a read or head a trace shows. */
  readonly traceBytes: number;
  readonly #log: Log;
  /**
   * A response is due and its head not yet written: the next write starting
   * "HTTP/1." is that head (or a 100 Continue before it). Only then: a body
   * may begin with those bytes too.
   */
  #headDue = false;

  /** `proxied`: the client a PROXY header read before TLS named, who then is the peer. */
  constructor(
    socket: ConnectionSocket,
    log: Log,
    tracer: Tracer | null,
    secure: boolean,
    proxied: { address: string; port: number } | null = null,
  ) {
    const ends = socketAddresses(socket);
    // Each read makes a new string; most connections share their addresses
    // with the one before (one listener, one proxy or busy client): one string serves them.
    const remote = plainAddress(ends.remoteAddress);
    const local = plainAddress(ends.localAddress);
    if (remote !== recent.remote) recent.remote = remote;
    if (local !== recent.local) recent.local = local;
    this.peer = {
      remoteAddress: proxied?.address ?? recent.remote,
      remotePort: proxied?.port ?? ends.remotePort ?? 0,
      localAddress: recent.local,
      localPort: ends.localPort ?? 0,
      secure,
    };
    this.#log = log;
    this.#tracer = tracer;
    this.#trace = tracer === null ? null : tracer.connection().trace;
    this.traceBytes = tracer?.bytes ?? 0;
    if (this.#trace !== null) this.#watch(socket, this.#trace);
  }

  /**
   * This connection's trace; null when nothing observes right now (callers
   * use `?.`, so no string is built: --flow with no page open costs a check).
   */
  get trace(): ConnectionTrace | null {
    return this.#tracer?.active === true ? this.#trace : null;
  }

  /** With tracing on: bytes read from the socket, the first of them quoted. */
  read(chunk: Buffer): void {
    const trace = this.trace;
    if (trace === null) return;
    const bytes = quoteBytes(chunk, this.traceBytes);
    trace('read', `read ${chunk.length} bytes ${bytes}`, { length: chunk.length, bytes });
  }

  /** A response begins (a request's head was accepted, or porta answers an error itself). */
  responseBegins(): void {
    this.#headDue = true;
  }

  /** With tracing on: the accept, and every write as it is queued (the socket's own write, observed). */
  #watch(socket: ConnectionSocket, trace: ConnectionTrace): void {
    const { remoteAddress: peer, remotePort: peerPort, localPort } = this.peer;
    const fd = socketFd(socket);
    if (this.#tracer?.active === true)
      trace('accept', `accepted from ${peer} port ${peerPort} on port ${localPort} (fd ${fd ?? '?'})`, {
        peer,
        peerPort,
        localPort,
        fd,
      });
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    const max = this.traceBytes;
    const tracer = this.#tracer as Tracer;
    (socket as { write: (...args: unknown[]) => boolean }).write = (chunk: unknown, ...rest: unknown[]) => {
      if (!tracer.active) return write(chunk, ...rest);
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer);
      const starts = this.#headDue && bytes.length > 12 && bytes.latin1Slice(0, 7) === 'HTTP/1.';
      // An interim answer (1xx, RFC 9110 §15.2) is a head, and the final one is still due.
      if (starts && bytes[9] !== 0x31) this.#headDue = false;
      const headEnd = starts ? bytes.indexOf('\r\n\r\n') : -1;
      const head = starts ? bytes.subarray(0, headEnd < 0 ? bytes.length : headEnd + 4) : null;
      const text =
        head === null
          ? bytes.length === 0
            ? 'write 0 bytes: its callback says all queued before is on the wire (then a program may write)'
            : `write ${bytes.length} bytes`
          : `write ${bytes.length} bytes, a response head: ${quoteBytes(head, max)}`;
      const data = head === null ? {} : { head: quoteBytes(head, max), headLength: head.length };
      trace('write', text, { length: bytes.length, ...data });
      return write(chunk, ...rest);
    };
  }

  /** A request answered (`request` null when no request line was understood). */
  answered(
    request: (LoggedRequest & { readonly client: string }) | null,
    status: number,
    /** Body bytes; null when a program wrote them to the socket itself. */
    bytes: number | null,
    closeWhy: string | null,
    upstreamUs: number | null = null,
  ): void {
    const body = bytes === null ? 'the body written by the program itself' : `${bytes} body bytes`;
    this.trace?.(
      'answer',
      `answered ${status}, ${body}; ${closeWhy === null ? 'keep-alive' : `then close: ${closeWhy}`}`,
      { status, bytes, keepAlive: closeWhy === null, why: closeWhy ?? 'keep-alive' },
    );
    this.#logAccess(request, status, bytes, upstreamUs);
  }

  /**
   * A program that had the socket as its stdout gave it back. porta saw none
   * of its bytes: the trace says what porta wrote and why the connection
   * ends, never a status it did not see (an nph- program writes its own).
   * `cut`: why the answer may be incomplete (then a reset ends it).
   */
  programAnswered(exchange: ReportedExchange, cut: string | null): void {
    const nph = exchange.handedHead === false;
    const status = nph ? null : 200;
    const written = nph
      ? 'answered by the program itself (nph-: its own status line, which porta does not read)'
      : 'answered 200, the body written by the program itself';
    const why = cut === null ? exchange.closeWhy : `cut short (${cut}): a reset ends it`;
    const logged = cut === null ? '' : `; logged as ${exchange.status}`;
    this.trace?.('answer', `${written}; then close: ${why}${logged}`, { status, bytes: null, keepAlive: false, why });
    this.#logAccess(exchange.request, exchange.status, null, exchange.upstreamUs);
  }

  #logAccess(
    request: (LoggedRequest & { readonly client: string }) | null,
    status: number,
    bytes: number | null,
    upstreamUs: number | null,
  ): void {
    if (this.#log.enabled) {
      const client = request?.client ?? this.peer.remoteAddress;
      this.#log.access({ client, request, status, bytes, upstreamUs });
    } else this.#log.answers++;
  }

  /**
   * An exchange is over: its answer, with why the connection closes after it
   * (null: it stays open); an aborted one is an error too. A gone one has no
   * answer of its own to log.
   */
  exchangeEnded(exchange: ReportedExchange, stopping: boolean): void {
    if (exchange.state === 'aborted') this.error(exchange.request, `response aborted: ${exchange.abortReason}`);
    if (exchange.state === 'gone') return;
    const why = exchange.closeAfter ? exchange.closeWhy : stopping ? SERVER_STOPPING : null;
    this.exchangeAnswered(exchange, why);
  }

  /** An exchange's answer; `bytes` null when a program wrote the body to the socket itself. */
  exchangeAnswered(exchange: ReportedExchange, why: string | null, bytes: number | null = exchange.bytesSent): void {
    this.answered(exchange.request, exchange.status, bytes, why, exchange.upstreamUs);
  }

  error(request: LoggedRequest | null, message: string): void {
    const about = request === null ? '' : ` "${request.method} ${request.target}"`;
    // A client that reset at once may be gone before its address could be read (getpeername: ENOTCONN).
    const who =
      this.peer.remotePort === 0
        ? 'a client gone before its address was read'
        : `${this.peer.remoteAddress}:${this.peer.remotePort}`;
    this.#log.error(`${who}${about}: ${message}`);
  }
}

/**
 * An IPv4 client on a dual-stack (::) listener shows as ::ffff:a.b.c.d; logs
 * and CGI programs (REMOTE_ADDR) expect a.b.c.d.
 */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return '-';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
