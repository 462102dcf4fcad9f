// The primary: it never serves a request. It starts the workers (node:cluster),
// replaces one that dies (with a back-off, so a crash loop does not spin),
// and turns signals into what an operator expects, as nginx's master does:
//   SIGTERM, SIGINT  every worker drains (--grace), then exit 0; a second
//                    signal exits at once
//   SIGHUP           a zero-downtime restart: new workers start (reading the
//                    flags and the code afresh), and once they listen the old
//                    ones drain
//   SIGUSR1          every worker reopens its log files (logrotate)
// The listening sockets belong to the primary, so a port is never closed
// while workers come and go: with --balance shared it holds them itself (the
// first worker binds and sends them over; node:cluster's own shared sockets
// close with their last worker); with round-robin node:cluster deals them.

import cluster, { type Worker } from 'node:cluster';
import { Socket } from 'node:net';
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
  /** The addresses it was started to serve (listenKey): which listeners it may be given. */
  listenKey: string;
  /** 0…N-1 in its generation: which share of --cgi-max and --cgi-queue it takes (cli.ts). A replacement keeps it. */
  slot: number;
}

/** --balance shared: the listening sockets the primary holds, and the addresses they were bound for. */
interface HeldListeners {
  key: string;
  handles: object[];
}

/** What a worker binds, from its settings: workers started with equal keys share the listeners. */
function listenKey(settings: Settings): string {
  return JSON.stringify([settings.hosts, settings.port, settings.listenFds]);
}

function closeHandle(handle: object): void {
  (handle as { close?: () => void }).close?.();
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
  /** The generation a SIGHUP started that does not listen yet; null when none. */
  let starting: number | null = null;
  let restartAgain = false;

  const send = (info: WorkerInfo, message: ToWorker): void => {
    if (info.worker.isConnected()) info.worker.send(message);
  };

  // --balance shared: the listening sockets, held here for as long as the
  // primary runs (see listenAsTold in worker.ts), given to every worker that
  // asks; the first worker for a set of addresses binds them (`binder`), the
  // others asking meanwhile wait. Sockets systemd passed are held from the start.
  let held: HeldListeners | null = null;
  if (settings.balance === 'shared' && settings.listenFds.length > 0) {
    held = { key: listenKey(settings), handles: settings.listenFds.map(inheritedHandle) };
  }
  let binder: WorkerInfo | null = null;
  let arriving: object[] = [];
  const waitingForListeners: WorkerInfo[] = [];

  const giveListeners = (info: WorkerInfo): void => {
    if (!workers.has(info.worker.id)) return;
    if (held !== null && held.key === info.listenKey) {
      const count = held.handles.length;
      for (const [index, handle] of held.handles.entries()) {
        if (info.worker.isConnected()) info.worker.send({ type: 'listener', index, count }, handle as never);
      }
      return;
    }
    if (binder !== null && workers.has(binder.worker.id)) return void waitingForListeners.push(info);
    binder = info;
    arriving = [];
    send(info, { type: 'bind' });
  };

  /** The binder sent one of its sockets: once all are here, they are held, and the workers waiting get them. */
  const takeListener = (info: WorkerInfo, index: number, count: number, handle: unknown): void => {
    if (info !== binder || typeof handle !== 'object' || handle === null) return;
    arriving[index] = handle;
    if (arriving.filter((h) => h !== undefined).length < count) return;
    // Addresses changed at a SIGHUP: the old sockets close here (their old workers hold their own until they drain).
    for (const old of held?.handles ?? []) closeHandle(old);
    held = { key: info.listenKey, handles: arriving };
    binder = null;
    arriving = [];
    for (const next of waitingForListeners.splice(0)) giveListeners(next);
  };

  /** A worker gone (or failed) before it had listeners: if it was binding, the next one waiting binds. */
  const forgetListenerWait = (info: WorkerInfo): void => {
    const at = waitingForListeners.indexOf(info);
    if (at >= 0) waitingForListeners.splice(at, 1);
    if (binder !== info) return;
    binder = null;
    for (const orphan of arriving) if (orphan !== undefined) closeHandle(orphan);
    arriving = [];
    const next = waitingForListeners.shift();
    if (next !== undefined) giveListeners(next);
  };

  const fork = (gen: number, slot: number): void => {
    const worker = cluster.fork({ PORTA_WORKER_GENERATION: String(gen), PORTA_WORKER_SLOT: String(slot) });
    const info: WorkerInfo = {
      worker,
      slot,
      generation: gen,
      listening: false,
      leaving: false,
      startedAt: Date.now(),
      listenKey: listenKey(settings),
    };
    workers.set(worker.id, info);
    worker.on('message', (message: unknown, handle: unknown) => {
      if (!isFromWorker(message)) return;
      if (message.type === 'listener') return takeListener(info, message.index, message.count, handle);
      onMessage(info, message);
    });
    // A message to a worker whose channel just closed (node:cluster's own,
    // after a disconnect; ours are checked) fails with EPIPE as an 'error' on
    // the Worker: heard by no one, it ended the primary, and every worker
    // with it (a reviewer's SIGHUPs sent back to back). The worker's exit,
    // which follows, is what the primary acts on.
    worker.on('error', (err: Error) => {
      events.log(`worker ${worker.id} (pid ${worker.process.pid ?? '?'}): ${err.message}`);
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
        if ([...workers.values()].every((w) => w.generation !== info.generation || w.listening)) {
          restartSettled(info.generation);
        }
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
          restartAgain = false; // what failed would fail again; a new SIGHUP tries anew
          restartSettled(info.generation);
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
      case 'listeners?':
        return giveListeners(info);
      case 'listener':
        return; // with its socket, in fork's listener
      case 'drained':
        // Everything sent to this worker before now, node:cluster's handing
        // over of connections included, reaches it before this answer.
        return send(info, { type: 'bye' });
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
    forgetListenerWait(info);
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
      if (!stopping) fork(generation, info.slot);
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
    // Every worker stops accepting; with these gone too, the ports close.
    for (const handle of held?.handles ?? []) closeHandle(handle);
    held = null;
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
  /**
   * SIGHUP: a new generation. One at a time: a SIGHUP while one is starting
   * is remembered, and the next restart (reading the flags and code as they
   * are then) begins once that generation listens, so a burst of signals
   * costs two restarts, not a fork per signal.
   */
  const restart = (): void => {
    if (stopping) return;
    if (starting !== null) {
      if (!restartAgain) events.log('SIGHUP: a restart is under way; another follows once its workers listen');
      restartAgain = true;
      return;
    }
    let next: Settings;
    try {
      // Sockets systemd passed stay what is served: they are not on the command line.
      next = { ...events.reload(), listenFds: settings.listenFds };
      refuseUnchangeable(settings, next);
    } catch (err) {
      return events.log(`SIGHUP: the flags are refused (${(err as Error).message}); the running workers stay`);
    }
    settings = next;
    generation++;
    starting = generation;
    events.log(`SIGHUP: starting ${settings.workers} new worker(s); the old ones drain once they listen`);
    for (let i = 0; i < settings.workers; i++) fork(generation, i);
  };
  /** The generation `gen` listens, or failed to start: a SIGHUP that came meanwhile is acted on now. */
  const restartSettled = (gen: number): void => {
    if (starting !== gen) return;
    starting = null;
    if (restartAgain) {
      restartAgain = false;
      restart();
    }
  };
  process.on('SIGHUP', restart);
  process.on('SIGUSR1', () => {
    for (const w of workers.values()) send(w, { type: 'reopen' });
  });

  for (let i = 0; i < settings.workers; i++) fork(generation, i);
}

/**
 * Flags a restart cannot change: the scheduling policy is node:cluster's,
 * fixed at the first fork, and --workers 0 means no primary at all. Refused
 * with the reason, as a file that does not parse is.
 */
function refuseUnchangeable(now: Settings, next: Settings): void {
  if (next.balance !== now.balance) {
    throw new Error(`--balance ${next.balance} takes effect only when porta starts (it is ${now.balance})`);
  }
  if (next.workers === 0) throw new Error('--workers 0 (no primary) takes effect only when porta starts');
}

/** A socket systemd passed (fd 3 onwards) as a libuv handle to send to workers; never read or accepted from here. */
function inheritedHandle(fd: number): object {
  const socket = new Socket({ fd, readable: false, writable: false });
  return (socket as unknown as { _handle: object })._handle;
}
