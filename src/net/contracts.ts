// What the parts of a connection promise each other: what the server gives a
// connection (ConnectionContext), and what a connection and its exchange (the
// response writer) ask of each other. The types alone, so that each side can
// be read without the other. What the reader and the exchange tell the
// outside goes straight to the connection's report (report.ts): their host
// only decides.

import type { Settings } from '../config';
import type { AddressRanges } from '../http/cidr';
import type { Dispatch, Exchange } from '../http/exchange';
import type { ResponseVersion } from '../http/response';
import type { Log } from '../log';
import type { Tracer } from '../trace';
import type { Connection } from './connection';
import type { ConnectionSocket } from './socket';

export interface ConnectionContext {
  settings: Settings;
  dispatch: Dispatch;
  log: Log;
  /** --trace or --flow: observes every step; null when neither is on. */
  trace: Tracer | null;
  /** The listener speaks TLS (HTTPS): the socket carries encrypted bytes. */
  secure: boolean;
  /** --trust-proxy: peers whose forwarding headers (and PROXY header) say who the client is. */
  trusted: AddressRanges;
  /** The server is shutting down: finish the current response, then close. */
  readonly draining: boolean;
  onClosed(connection: Connection): void;
}

export interface ExchangeHost {
  readonly socket: ConnectionSocket;
  /** Why the connection closes after this response, or null to keep it. Asked once, when its head is written. */
  closeAfter(exchange: ExchangeView, closeDelimited: boolean, handlerClose: boolean): string | null;
  /** The exchange's state changed (finished, aborted, handed off, wants body): advance. */
  exchangeChanged(): void;
}

export interface ExchangeOptions {
  /** llhttp's should_keep_alive for this request. */
  clientKeepAlive: boolean;
  /** The client sent Expect: 100-continue and holds its body back (the exchange decides whether to answer it). */
  expectsContinue: boolean;
  /** The version porta answers with. */
  version: ResponseVersion;
}

/** What the connection reads of its exchange (net/exchange.ts ConnectionExchange). */
export interface ExchangeView {
  readonly request: Exchange['request'];
  readonly clientKeepAlive: boolean;
  readonly bodyWithheld: boolean;
}
