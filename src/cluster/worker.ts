// A worker: one porta serving requests under the primary. It listens (the
// primary owns the sockets), drops root for --user once they exist, tells the
// primary it is ready, and answers its messages: drain, exit, reopen the logs,
// and its stats for the status page. Ctrl-C reaches the whole process group:
// the worker leaves it to the primary, which drains everyone at once.

import cluster from 'node:cluster';
import type { Settings } from '../config';
import { effectiveParserKind } from '../http/parser';
import { createPorta, type Porta, type ServerStats } from '../server';
import { type FromWorker, isToWorker, type ToWorker } from './messages';
import { dropPrivileges } from './privileges';

/** Longer than the primary's own wait for every worker's numbers. */
const STATUS_WAIT_MS = 2000;

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
      cluster.worker?.disconnect();
      process.exit(0);
    });
  };
  const onMessage = (message: ToWorker): void => {
    switch (message.type) {
      case 'drain':
        return drain(message.graceMs);
      case 'exit':
        porta?.killPrograms();
        return process.exit(1);
      case 'reopen':
        return porta?.reopenLogs();
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
  process.on('message', (message: unknown) => {
    if (isToWorker(message)) onMessage(message);
  });
  process.on('SIGINT', () => undefined); // the primary decides
  // A SIGTERM sent to the whole group (systemd's KillMode=control-group): drain too.
  process.on('SIGTERM', () => drain(settings.limits.graceMs));
  // The primary gone without a word (SIGKILL): Node's cluster exits the worker
  // at once on that disconnect (lib/internal/cluster/child.js), before any
  // handler here could drain, and the exit kills this worker's programs (none
  // is orphaned). Answers in flight are cut: to drain, signal the primary.

  const start = async (): Promise<Porta> => {
    const server = createPorta(settings, undefined, {
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
    const listening = await server.listen();
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
