// What one connection tells the outside: the access log, the error log and,
// with --trace, each step of its life. It only observes; nothing it writes is
// read back by porta.

import type { Peer } from '../http/request';
import type { LoggedRequest, Log } from '../log';
import type { Trace } from '../trace';
import type { ConnectionSocket } from './socket';

let connections = 0;

export class ConnectionReport {
  readonly peer: Peer;
  /** One trace line for this connection; null when --trace is off (callers use `?.`, so no string is built). */
  readonly trace: ((event: string) => void) | null;
  readonly #log: Log;

  constructor(socket: ConnectionSocket, log: Log, trace: Trace | null, secure: boolean) {
    this.peer = {
      remoteAddress: plainAddress(socket.remoteAddress),
      remotePort: socket.remotePort ?? 0,
      localAddress: plainAddress(socket.localAddress),
      localPort: socket.localPort ?? 0,
      secure,
    };
    this.#log = log;
    const id = ++connections;
    this.trace = trace === null ? null : (event) => trace(id, event);
  }

  /** A request answered (`request` null when no request line was understood). */
  answered(
    request: (LoggedRequest & { readonly client: string }) | null,
    status: number,
    bytes: number,
    closes: boolean,
    upstreamUs: number | null = null,
  ): void {
    this.trace?.(`answered ${status}, ${bytes} body bytes${closes ? ', then close' : ''}`);
    if (this.#log.enabled) {
      this.#log.access({ client: request?.client ?? this.peer.remoteAddress, request, status, bytes, upstreamUs });
    } else this.#log.answers++;
  }

  error(request: LoggedRequest | null, message: string): void {
    const about = request === null ? '' : ` "${request.method} ${request.target}"`;
    this.#log.error(`${this.peer.remoteAddress}:${this.peer.remotePort}${about}: ${message}`);
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
