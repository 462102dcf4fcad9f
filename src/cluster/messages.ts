// What the primary and its workers say to each other over the cluster's IPC
// channel. Plain data, one union a direction, so both ends switch on `type`.

import type { Listening, ServerStats } from '../server';

/** Worker → primary. */
export type FromWorker =
  | { type: 'listening'; listening: Listening[]; cgiUser: string; cgiLauncher: string; parser: string }
  /** The worker could not start (a port in use, a certificate): said once by the primary, then exit 1. */
  | { type: 'fatal'; message: string }
  /** The status page asks for every worker's stats; `id` matches the answer. */
  | { type: 'status?'; id: number }
  | { type: 'stats'; id: number; stats: ServerStats }
  /** Drained, its listeners closed: it exits once the primary answers 'bye' (see worker.ts). */
  | { type: 'drained' }
  /** Ready to listen (--balance shared): the primary answers 'bind', or with its listeners. */
  | { type: 'listeners?' }
  /** One of the sockets this worker bound when told 'bind', sent with the message for the primary to hold. */
  | { type: 'listener'; index: number; count: number };

/** Primary → worker. */
export type ToWorker =
  /** Stop gracefully (SIGTERM, or an old worker after SIGHUP). */
  | { type: 'drain'; graceMs: number }
  /** A second signal: kill the programs, exit now. */
  | { type: 'exit' }
  /** SIGUSR1: reopen the log files. */
  | { type: 'reopen' }
  | { type: 'stats?'; id: number }
  /** The answer to 'drained': nothing more is on its way to the worker. */
  | { type: 'bye' }
  /** The primary holds no listeners yet: bind the addresses, and send the sockets back. */
  | { type: 'bind' }
  /** One of the primary's listening sockets, sent with the message: listen on it. */
  | { type: 'listener'; index: number; count: number }
  | { type: 'status'; id: number; workers: ServerStats[] };

export function isFromWorker(message: unknown): message is FromWorker {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string';
}

export function isToWorker(message: unknown): message is ToWorker {
  return isFromWorker(message);
}
