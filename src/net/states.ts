// The states a connection can be in, and the deadline each one carries. The
// transitions themselves live in connection.ts (#enter); what a state allows
// is said once here.

import type { Limits } from '../config';

export type ConnectionState =
  | 'idle' // persistent connection between requests (keep-alive timeout)
  | 'readingHead' // a request has begun; its head is not complete (head timeout)
  | 'readingBody' // head dispatched; body flows to the handler (body timeout)
  | 'responding' // request read, response in flight, parser paused (send timeout)
  | 'draining' // response queued, waiting for the socket to drain before reading on
  | 'handedOff' // the socket is a child's stdout: only end()/destroy() from here
  | 'closing' // last bytes queued and FIN sent; discarding input (linger timeout)
  | 'closed';

/** How long a connection may stay in `state` (ms). */
export function stateTimeout(state: ConnectionState, limits: Limits): number {
  switch (state) {
    case 'idle':
      return limits.keepAliveTimeoutMs;
    case 'readingHead':
      return limits.headerTimeoutMs;
    case 'readingBody':
      return limits.bodyTimeoutMs;
    case 'responding':
    case 'draining':
      return limits.sendTimeoutMs;
    case 'closing':
      return limits.lingerMs;
    case 'handedOff':
    case 'closed':
      return Infinity;
  }
}
