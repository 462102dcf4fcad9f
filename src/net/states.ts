// The states a connection can be in, which may follow which, and the deadline
// each one carries (as Go documents ConnState). connection.ts checks every
// transition against TRANSITIONS in #enter(); its loop switches on the state.
// Beside them, the states of its exchange, and the decisions the loop takes
// on both as pure functions: facts in, a verdict out, no socket here.
//
//   idle ──▶ readingHead ──▶ readingBody ──▶ responding ──▶ idle (keep-alive)
//                 │               │              ├──▶ draining ──▶ idle
//                 │               │              └──▶ handedOff ──▶ closing
//                 │               └──▶ discarding ──▶ idle, or draining
//                 └──▶ responding (a request with no body)
//   every state but closed ──▶ closing ──▶ closed; and ──▶ closed at once (a reset, a timeout)

import type { Limits } from '../config';

export type ConnectionState =
  | 'idle' // between requests: nothing of the next one yet (keep-alive timeout)
  | 'readingHead' // a request has begun; its head is not complete (head timeout)
  | 'readingBody' // head dispatched; the body still arriving, the answer maybe under way (body timeout)
  | 'responding' // request read whole; its answer in flight, the parser paused (send timeout)
  | 'discarding' // answered before the body ended: reading and dropping the rest (body timeout)
  | 'draining' // answered; waiting for the socket to drain before reading on (send timeout)
  | 'handedOff' // the socket is a CGI program's stdout: porta neither reads nor writes it
  | 'closing' // FIN sent after the last bytes; reading and dropping until the peer's (linger timeout)
  | 'closed';

export const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  idle: ['readingHead', 'closing', 'closed'],
  readingHead: ['readingBody', 'responding', 'closing', 'closed'],
  readingBody: ['responding', 'discarding', 'closing', 'closed'],
  responding: ['idle', 'draining', 'handedOff', 'closing', 'closed'],
  discarding: ['idle', 'draining', 'closing', 'closed'],
  draining: ['idle', 'closing', 'closed'],
  handedOff: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

export type ExchangeState =
  | 'waiting' // no response byte yet
  | 'sending' // head queued, body under way
  | 'finished' // response complete (or the socket given back after a hand-off)
  | 'aborted' // given up mid-response: the connection is destroyed
  | 'handedOff' // the socket is lent to a CGI program
  | 'gone'; // the connection died, or answered for the handler (a connection-level failure)

/** How long a connection may stay in `state` (ms). */
export function stateTimeout(state: ConnectionState, limits: Limits): number {
  switch (state) {
    case 'idle':
      return limits.keepAliveTimeoutMs;
    case 'readingHead':
      return limits.headerTimeoutMs;
    case 'readingBody':
    case 'discarding':
      return limits.bodyTimeoutMs;
    case 'responding':
    case 'draining':
      return limits.sendTimeoutMs;
    case 'closing':
      return limits.lingerMs;
    case 'handedOff': // the program's own timeout (cgiTimeoutMs) bounds it
    case 'closed':
      return Number.POSITIVE_INFINITY;
    default:
      return unreachable(state);
  }
}

/**
 * May the parser run in `state`? Between requests and in a head, always; in a
 * body only while its handler wants it (backpressure); while an answer is in
 * flight never (the next pipelined request waits its turn).
 */
export function mayParse(state: ConnectionState, wantsBody: boolean): boolean {
  switch (state) {
    case 'idle':
    case 'readingHead':
    case 'discarding':
      return true;
    case 'readingBody':
      return wantsBody;
    case 'responding':
    case 'draining':
    case 'handedOff':
    case 'closing':
    case 'closed':
      return false;
    default:
      return unreachable(state);
  }
}

/**
 * Should the socket be read in `state`? When the parser may run and has
 * nothing waiting; while closing, to drop what comes until the peer's FIN;
 * never while a CGI program writes to it (handedOff).
 */
export function mayRead(state: ConnectionState, hasInput: boolean, wantsBody: boolean): boolean {
  if (state === 'closing') return true;
  return !hasInput && mayParse(state, wantsBody);
}

/** Why a connection closes when the server shuts down (the trace's cause and the log's reason alike). */
export const SERVER_STOPPING = 'the server is stopping';

/** What afterExchange reads of an exchange that is over (net/exchange.ts ConnectionExchange). */
export interface EndedExchange {
  readonly state: ExchangeState;
  readonly closeAfter: boolean;
  readonly closeWhy: string;
  readonly abortReason: string;
  readonly cutNeedsReset: boolean;
  readonly clientGone: boolean;
}

/** Where a connection goes once its exchange is over, and why (the cause its trace gives). */
export interface NextState {
  readonly to: 'idle' | 'draining' | 'closing' | 'closed';
  readonly cause: string;
  /** Closed with a reset, not a FIN: the client must not take what it got for the whole answer. */
  readonly reset?: true;
}

// The outcomes whose cause is always the same: one object each, so that the
// keep-alive path builds nothing here.
const RESET: NextState = { to: 'closed', cause: 'porta closed it at once' };
const STOPPING: NextState = { to: 'closing', cause: SERVER_STOPPING };
const DRAIN: NextState = { to: 'draining', cause: 'answered; the client has yet to read it all' };
const NEXT_REQUEST: NextState = { to: 'idle', cause: 'answered: keep-alive, the next request' };

/**
 * What follows an exchange that is over (finished, aborted or gone): the next
 * request, a drain first, a FIN, or a reset. `stopping`: the server is
 * shutting down; `unsent`: the socket's send buffer is over its high-water mark.
 */
export function afterExchange(exchange: EndedExchange, stopping: boolean, unsent: boolean): NextState {
  if (exchange.state === 'gone') return RESET;
  // Cut short: what was written still goes, then the FIN, so the client
  // sees the truncation (no length reached, no last chunk); a reset where
  // only a reset can say it (a close-delimited body).
  if (exchange.state === 'aborted') {
    const cut = `the answer was cut short (${exchange.abortReason})`;
    // The client reset: nothing more can be sent, a FIN least of all.
    if (exchange.clientGone) return { to: 'closed', cause: cut, reset: true };
    return exchange.cutNeedsReset
      ? { to: 'closed', cause: `${cut}: a reset says so`, reset: true }
      : { to: 'closing', cause: cut };
  }
  if (exchange.closeAfter) return { to: 'closing', cause: exchange.closeWhy };
  if (stopping) return STOPPING;
  return unsent ? DRAIN : NEXT_REQUEST;
}

/** The `never` check that makes a switch over a union exhaustive. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${String(value)}`);
}
