// A worker: one porta serving requests under the primary. It listens (the
// primary owns the sockets), drops root for --user once they exist, tells the
// primary it is ready, and answers its messages: drain, exit, reopen the logs,
// and its stats for the status page. Ctrl-C reaches the whole process group:
// the worker leaves it to the primary, which drains everyone at once.

import cluster from 'node:cluster';
import type { Settings } from '../config';
import { effectiveParserKind } from '../http/parser';
import { createPorta, type Listening, type Porta, type ServerStats } from '../server';
import { type FromWorker, isToWorker, type ToWorker } from './messages';
import { dropPrivileges } from './privileges';

/** Longer than the primary's own wait for every worker's numbers. */
const STATUS_WAIT_MS = 2000;
/** A drained worker waits this long at most for the primary's 'bye' (a primary gone or stuck). */
const BYE_WAIT_MS = 1000;

/**
 * A worker's share of a whole-server limit (--cgi-max, --cgi-queue): the
 * total split over `workers`, the remainder to the first slots (3 over 2:
 * 2 and 1), so that the shares add up to the total, never more.
 */
export function shareOf(total: number, workers: number, slot: number): number {
  return Math.floor(total / workers) + (slot < total % workers ? 1 : 0);
}

export interface WorkerOptions {
  settings: Settings;
  /** Start-up problems a user can act on (a port in use…): one line for the primary to say. */
  isUserError(err: unknown): boolean;
}

export function runWorker({ settings, isUserError }: WorkerOptions): void {
  const tell = (message: FromWorker): void => {
    if (process.connected) process.send?.(message);
  };
  let porta: Porta | null = null;
  const pending = new Map<number, (workers: ServerStats[]) => void>();
  let asks = 0;
  // Messages can come before the server exists (a drain just after the fork):
  // they are listened for from the first moment, and a drain asked for early
  // happens as soon as there is something to drain.
  let drainAsked: number | null = null;
  let draining = false;
  const drain = (graceMs: number): void => {
    if (porta === null) {
      drainAsked = graceMs;
      return;
    }
    if (draining) return;
    draining = true;
    void porta.close(graceMs).then(() => {
      // With --balance round-robin the primary accepts and hands each
      // connection over by message. One it sent before it learnt that this
      // worker's listener closed is still on its way; exiting before it
      // arrives (and is refused, so that the primary deals it to another
      // worker) left that client hung in the primary. The channel keeps
      // order: once 'bye' is here, nothing else is on its way.
      tell({ type: 'drained' });
      byeTimer = setTimeout(leave, BYE_WAIT_MS);
    });
  };
  let byeTimer: NodeJS.Timeout | null = null;
  const leave = (): void => {
    if (byeTimer !== null) clearTimeout(byeTimer);
    cluster.worker?.disconnect();
    process.exit(0);
  };
  /** Waiting for the primary's answer to 'listeners?' (--balance shared). */
  let onListeners: ((message: ToWorker, handle: unknown) => void) | null = null;
  const onMessage = (message: ToWorker, handle: unknown): void => {
    switch (message.type) {
      case 'bind':
      case 'listener':
        return onListeners?.(message, handle);
      case 'drain':
        return drain(message.graceMs);
      case 'exit':
        porta?.killPrograms();
        return process.exit(1);
      case 'reopen':
        return porta?.reopenLogs();
      case 'bye':
        return leave();
      case 'stats?':
        if (porta !== null) tell({ type: 'stats', id: message.id, stats: porta.stats() });
        return;
      case 'status': {
        const answer = pending.get(message.id);
        pending.delete(message.id);
        answer?.(message.workers);
        return;
      }
    }
  };
  process.on('message', (message: unknown, handle: unknown) => {
    if (isToWorker(message)) onMessage(message, handle);
  });

  /**
   * --balance shared: the listening sockets are the primary's, held for as
   * long as it runs, so that no worker's death or restart closes a port
   * (node:cluster's own shared sockets close when their last worker leaves:
   * with one worker, each of its deaths refused connections until the next
   * one listened, and an inherited socket was closed for good). The first
   * worker binds and sends its sockets to the primary; every other one
   * listens on the primary's. --balance round-robin: node:cluster's way.
   */
  const listenAsTold = (server: Porta): Promise<Listening[]> => {
    if (settings.balance !== 'shared') return server.listen();
    return new Promise((resolve, reject) => {
      const got: object[] = [];
      onListeners = (message, handle) => {
        if (message.type === 'bind') {
          onListeners = null;
          server.listen(true).then((listening) => {
            const handles = server.listenerHandles();
            for (const [index, h] of handles.entries()) {
              if (process.connected) process.send?.({ type: 'listener', index, count: handles.length }, h as never);
            }
            resolve(listening);
          }, reject);
        } else if (message.type === 'listener' && typeof handle === 'object' && handle !== null) {
          got[message.index] = handle;
          if (got.filter((h) => h !== undefined).length < message.count) return;
          onListeners = null;
          server.listenOn(got).then(resolve, reject);
        }
      };
      tell({ type: 'listeners?' });
    });
  };
  process.on('SIGINT', () => undefined); // the primary decides
  // A SIGTERM sent to the whole group (systemd's KillMode=control-group): drain too.
  process.on('SIGTERM', () => drain(settings.limits.graceMs));
  // The primary gone without a word (SIGKILL): Node's cluster exits the worker
  // at once on that disconnect (lib/internal/cluster/child.js), before any
  // handler here could drain, and the exit kills this worker's programs (none
  // is orphaned). Answers in flight are cut: to drain, signal the primary.

  const start = async (): Promise<Porta> => {
    const server = createPorta(settings, undefined, {
      adoptOrphans: true,
      // The status page shows every worker: the primary gathers them.
      // (If the primary cannot answer in time, the page shows this worker alone.)
      allStats: () =>
        new Promise((resolve) => {
          const id = ++asks;
          const timer = setTimeout(() => {
            pending.delete(id);
            resolve([server.stats()]);
          }, STATUS_WAIT_MS);
          pending.set(id, (workers) => {
            clearTimeout(timer);
            resolve(workers);
          });
          tell({ type: 'status?', id });
        }),
    });
    const listening = await listenAsTold(server);
    if (settings.user !== null) dropPrivileges(settings.user);
    const parser = effectiveParserKind(settings.parser);
    tell({ type: 'listening', listening, cgiUser: server.cgiUser, cgiLauncher: server.cgiLauncher, parser });
    return server;
  };
  start().then(
    (server) => {
      porta = server;
      if (drainAsked !== null) drain(drainAsked);
    },
    (err: unknown) => {
      tell({ type: 'fatal', message: isUserError(err) ? (err as Error).message : String((err as Error).stack ?? err) });
      setTimeout(() => process.exit(1), 100);
    },
  );
}
