// A worker: one porta serving requests under the primary. It listens (the
// primary owns the sockets), drops root for --user once they exist, tells the
// primary it is ready, and answers its messages: drain, reopen the logs, and
// its stats for the status page. Ctrl-C reaches the whole process group: the
// worker leaves it to the primary, which drains everyone at once.

import cluster from 'node:cluster';
import type { Settings } from '../config';
import { createPorta, type Porta, type ServerStats } from '../server';
import { type FromWorker, isToWorker } from './messages';
import { dropPrivileges } from './privileges';

export interface WorkerOptions {
  settings: Settings;
  /** Start-up problems a user can act on (a port in use…): one line for the primary to say. */
  isUserError(err: unknown): boolean;
}

export async function runWorker({ settings, isUserError }: WorkerOptions): Promise<void> {
  const tell = (message: FromWorker): void => {
    if (process.connected) process.send?.(message);
  };
  let porta: Porta;
  const pending = new Map<number, (workers: ServerStats[]) => void>();
  let asks = 0;
  try {
    porta = createPorta(settings, undefined, {
      // The status page shows every worker: the primary gathers them.
      allStats: () =>
        new Promise((resolve) => {
          const id = ++asks;
          pending.set(id, resolve);
          tell({ type: 'status?', id });
        }),
    });
    const listening = await porta.listen();
    if (settings.user !== null) dropPrivileges(settings.user);
    tell({ type: 'listening', listening, cgiUser: porta.cgiUser, cgiLauncher: porta.cgiLauncher });
  } catch (err) {
    tell({ type: 'fatal', message: isUserError(err) ? (err as Error).message : String((err as Error).stack ?? err) });
    setTimeout(() => process.exit(1), 100);
    return;
  }
  let draining = false;
  const drain = (graceMs: number): void => {
    if (draining) return;
    draining = true;
    void porta.close(graceMs).then(() => {
      cluster.worker?.disconnect();
      process.exit(0);
    });
  };
  process.on('message', (message: unknown) => {
    if (!isToWorker(message)) return;
    switch (message.type) {
      case 'drain':
        return drain(message.graceMs);
      case 'reopen':
        return porta.reopenLogs();
      case 'stats?':
        return tell({ type: 'stats', id: message.id, stats: porta.stats() });
      case 'status': {
        const answer = pending.get(message.id);
        pending.delete(message.id);
        answer?.(message.workers);
        return;
      }
    }
  });
  process.on('SIGINT', () => undefined); // the primary decides
  // A SIGTERM sent to the whole group (systemd's KillMode=control-group): drain too.
  process.on('SIGTERM', () => drain(settings.limits.graceMs));
  // The primary is gone without a word (killed): this worker goes too.
  process.on('disconnect', () => drain(settings.limits.graceMs));
}
