// The primary: it never serves a request. It starts the workers (node:cluster),
// replaces one that dies (with a back-off, so a crash loop does not spin),
// and turns signals into what an operator expects, as nginx's master does:
//   SIGTERM, SIGINT  every worker drains (--grace), then exit 0; a second
//                    signal exits at once
//   SIGHUP           a zero-downtime restart: new workers start (reading the
//                    flags and the code afresh), and once they listen the old
//                    ones drain
//   SIGUSR1          every worker reopens its log files (logrotate)
// The listening sockets belong to the primary (cluster shares or deals
// them), so a port is never closed while workers come and go.

import cluster, { type Worker } from 'node:cluster';
import type { Settings } from '../config';
import type { Listening, ServerStats } from '../server';
import { type FromWorker, isFromWorker, type ToWorker } from './messages';

export interface PrimaryEvents {
  /** The first generation listens: say so (the banner). */
  ready(facts: { listening: Listening[]; cgiUser: string; cgiLauncher: string; parser: string }): void;
  /** A worker could not start: say it once, exit 1. */
  fatal(message: string): void;
  log(message: string): void;
  /** SIGHUP: the flags read again (throws when they are now wrong: the running workers stay). */
  reload(): Settings;
}

interface WorkerInfo {
  worker: Worker;
  generation: number;
  listening: boolean;
  /** Asked to drain: its exit is expected. */
  leaving: boolean;
  startedAt: number;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A worker that lived this long was healthy: the back-off starts over. */
const HEALTHY_MS = 10_000;
const STATS_WAIT_MS = 500;

/**
 * V8's young generation for the workers: each of its two semi-spaces at most
 * 4 MiB (V8's default on 64-bit is 16). Under steady keep-alive load V8 keeps
 * them at 4 MiB anyway (W1 with or without the cap: 203 scavenges per 100,000
 * requests, the same CPU per request), but a burst of connections that all
 * survive (W7: 10,000 opened in 2 s) grows them to 16 and leaves 32 MiB
 * committed long after. Capped, W7 measured 145.5 MiB in all instead of
 * 166.6 (medians of 6 rounds each); 2 MiB saved no more there and doubled
 * the scavenges under load. An operator's own --max-semi-space-size (argv or
 * NODE_OPTIONS) wins. A --workers 0 process starts before porta can choose.
 */
export const WORKER_SEMI_SPACE_MIB = 4;

export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((flag) =>
    /^--max[-_]semi[-_]space[-_]size\b/.test(flag),
  );
  return given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

export function runPrimary(initial: Settings, events: PrimaryEvents): void {
  let settings = initial;
  // Decided before the first fork (node:cluster reads it then). 'shared': each
  // worker accepts from the socket itself; 'round-robin': the primary accepts
  // and hands each connection to a worker (see README, Operations).
  cluster.schedulingPolicy = settings.balance === 'round-robin' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env['NODE_OPTIONS']) });
  const workers = new Map<number, WorkerInfo>();
  let generation = 0;
  let stopping = false;
  /** 0 for a drain that ran its course; 1 once a second signal cut it short. */
  let exitCode = 0;
  let announced = false;
  let backoffMs = BACKOFF_MIN_MS;
  let statsId = 0;

  const send = (info: WorkerInfo, message: ToWorker): void => {
    if (info.worker.isConnected()) info.worker.send(message);
  };

  const fork = (gen: number): void => {
    const worker = cluster.fork({ PORTA_WORKER_GENERATION: String(gen) });
    const info: WorkerInfo = { worker, generation: gen, listening: false, leaving: false, startedAt: Date.now() };
    workers.set(worker.id, info);
    worker.on('message', (message: unknown) => {
      if (isFromWorker(message)) onMessage(info, message);
    });
  };

  const onMessage = (info: WorkerInfo, message: FromWorker): void => {
    switch (message.type) {
      case 'listening':
        info.listening = true;
        // Asked to leave while it was starting (a message before its listener
        // existed would have been lost): it drains now.
        if (info.leaving) return send(info, { type: 'drain', graceMs: settings.limits.graceMs });
        if (!announced && [...workers.values()].every((w) => w.generation !== info.generation || w.listening)) {
          announced = true;
          events.ready(message);
        }
        retireOlderThan(info.generation);
        return;
      case 'fatal':
        if (stopping) return;
        if (announced) {
          // A restart's new worker cannot start (new code, a moved certificate):
          // the workers serving now stay, and the operator is told.
          events.log(`SIGHUP: a new worker cannot start (${message.message}); the running workers stay`);
          generation = info.generation - 1; // replacements come from the generation that works
          for (const w of workers.values()) {
            if (w.generation === info.generation) {
              w.leaving = true;
              w.worker.process.kill('SIGKILL');
            }
          }
          return;
        }
        stopping = true;
        for (const w of workers.values()) w.worker.process.kill('SIGKILL');
        events.fatal(message.message);
        return;
      case 'status?':
        return void collectStats().then((all) => send(info, { type: 'status', id: message.id, workers: all }));
      case 'stats':
        return; // answered through collectStats' listener
    }
  };

  /** Every live worker's stats, for the status page (a worker that does not answer in time is left out). */
  const collectStats = (): Promise<ServerStats[]> => {
    const id = ++statsId;
    const live = [...workers.values()].filter((w) => w.listening && !w.leaving && w.worker.isConnected());
    return new Promise((resolve) => {
      const got: ServerStats[] = [];
      const listener = (worker: Worker, message: unknown): void => {
        if (!isFromWorker(message) || message.type !== 'stats' || message.id !== id) return;
        got.push(message.stats);
        if (got.length === live.length) finish();
        void worker;
      };
      const finish = (): void => {
        clearTimeout(timer);
        cluster.off('message', listener);
        resolve(got.sort((a, b) => a.pid - b.pid));
      };
      const timer = setTimeout(finish, STATS_WAIT_MS);
      cluster.on('message', listener);
      for (const w of live) send(w, { type: 'stats?', id });
      if (live.length === 0) finish();
    });
  };

  /** A new generation listens: every worker of older ones drains. */
  const retireOlderThan = (gen: number): void => {
    const fresh = [...workers.values()].filter((w) => w.generation === gen);
    if (fresh.some((w) => !w.listening)) return;
    for (const w of workers.values()) {
      if (w.generation < gen && !w.leaving) {
        w.leaving = true;
        if (w.listening) send(w, { type: 'drain', graceMs: settings.limits.graceMs });
      }
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    const info = workers.get(worker.id);
    workers.delete(worker.id);
    if (info === undefined) return;
    if (stopping) {
      if (workers.size === 0) process.exit(exitCode);
      return;
    }
    if (info.leaving) return; // an old worker done draining after SIGHUP
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    // A crash loop backs off (100 ms, doubling, up to 10 s); a long life resets it.
    if (Date.now() - info.startedAt > HEALTHY_MS) backoffMs = BACKOFF_MIN_MS;
    const delay = backoffMs;
    backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
    events.log(`worker ${worker.id} (pid ${worker.process.pid ?? '?'}) died: ${how}; a new one in ${delay} ms`);
    setTimeout(() => {
      if (!stopping) fork(generation);
    }, delay);
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // The second signal: now. Workers kill their programs' groups and exit;
      // one that cannot within a moment is killed.
      exitCode = 1;
      for (const w of workers.values()) send(w, { type: 'exit' });
      setTimeout(() => {
        for (const w of workers.values()) w.worker.process.kill('SIGKILL');
        process.exit(1);
      }, 300);
      return;
    }
    stopping = true;
    if (signal === 'SIGINT') process.stdout.write('\nKeyboard interrupt received, exiting.\n');
    else
      events.log(
        `${signal}: ${workers.size} worker(s) finish what is in flight (grace ${settings.limits.graceMs / 1000} s), then exit`,
      );
    for (const w of workers.values()) {
      w.leaving = true;
      if (w.listening) send(w, { type: 'drain', graceMs: settings.limits.graceMs }); // else once it listens
    }
    if (workers.size === 0) process.exit(0);
    // Beyond the grace and the programs' kill grace, a worker that hangs is killed.
    setTimeout(
      () => {
        for (const w of workers.values()) w.worker.process.kill('SIGKILL');
      },
      settings.limits.graceMs + settings.limits.cgiKillGraceMs + 2000,
    ).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (stopping) return;
    try {
      settings = events.reload();
    } catch (err) {
      return events.log(`SIGHUP: the flags are refused (${(err as Error).message}); the running workers stay`);
    }
    generation++;
    events.log(`SIGHUP: starting ${settings.workers} new worker(s); the old ones drain once they listen`);
    for (let i = 0; i < settings.workers; i++) fork(generation);
  });
  process.on('SIGUSR1', () => {
    for (const w of workers.values()) send(w, { type: 'reopen' });
  });

  for (let i = 0; i < settings.workers; i++) fork(generation);
}
