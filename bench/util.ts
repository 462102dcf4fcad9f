// Shared pieces of the harness: the child-process registry (every process the
// harness starts is killed at the end, on error and on SIGINT), free ports,
// waiting for a listener, small statistics, and the figures and tally that the
// load generators (closeload, keepload) share.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const children = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
let handlersInstalled = false;

/** Run `fn` (synchronous) when the harness exits, however it exits; returns a function that unregisters it. */
export function atExit(fn: () => void): () => void {
  installHandlers();
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

/** SIGKILL every process group we started, then run the exit cleanups. Synchronous: safe in 'exit' handlers. */
export function killAllSync(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  cleanups.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every server started\n`);
      killAllSync();
      process.exit(130);
    });
  }
}

/**
 * Start a process in a process group of its own (detached), so that stopping
 * it also stops what it forked (nginx workers, fcgiwrap's, CGI programs).
 */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  installHandlers();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child;
}

/** SIGTERM the child's process group, SIGKILL it after `graceMs`. Resolves once the child exited. */
export function stopTracked(child: ChildProcess, graceMs = 3000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        // gone
      }
    };
    const timer = setTimeout(() => signal('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      // Stragglers of the group (a CGI program mid-run): no grace for them.
      signal('SIGKILL');
      children.delete(child);
      resolve();
    });
    signal('SIGTERM');
  });
}

/** Ask the OS for a free port: listen on 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      server.close(() => resolve(addr.port));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Poll until something accepts on the port; fail if the child exits or time runs out. */
export async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    }
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
}

/** Keep the last few KiB of a child's output, for error messages. */
export function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The value at percentile p (0–100) of an ascending array (nearest rank). */
export function percentile(sortedAsc: ArrayLike<number>, p: number): number {
  if (sortedAsc.length === 0) return NaN;
  const rank = Math.min(sortedAsc.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAsc.length) - 1));
  return sortedAsc[rank] as number;
}

/** VmRSS of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null || m[1] === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** `pid` and every process below it, now. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree: number[] = [];
  for (const queue = [pid]; queue.length > 0; ) {
    const next = queue.pop() as number;
    tree.push(next);
    queue.push(...(parents.get(next) ?? []));
  }
  return tree;
}

/**
 * VmRSS summed over a server's process tree (porta's primary and workers,
 * nginx's master and workers), in MiB. Pages shared between the processes
 * (the node binary, say) count once per process: a multi-process server is
 * overstated a little, never understated.
 */
export function treeRssMiB(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += rssMiB(member);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/**
 * Pss of a process in MiB, from /proc/<pid>/smaps_rollup: its private pages
 * plus its share of the pages it shares (a page mapped by two processes counts
 * half in each). Summed over a process tree it counts the node binary's pages
 * once, where the RSS sum counts them in every process.
 */
export function pssMiB(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const m = /^Pss:\s+(\d+)\s+kB/m.exec(rollup);
  if (m === null || m[1] === undefined) throw new Error(`no Pss for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** The Pss of a server's processes, summed (null where /proc has no smaps_rollup: Linux before 4.14). */
export function treePssMiB(pid: number): number | null {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += pssMiB(member);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && member === pid) return null;
      // exited meanwhile
    }
  }
  return total;
}

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ: 100 on Linux everywhere). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) used so far by a server's processes: its own
 * work, not its CGI programs' (their time reaches a parent only as cutime
 * once reaped, which is not counted). With load generators on the same cores
 * the request rate measures the client as much as the server; this measures
 * the server alone.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${member}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state ppid … utime is field 14 of stat, 12th here (0-based 11), stime next.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** The soft limit on open files of this process (from /proc/self/limits). */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m?.[1] === undefined) return 1024;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return 1024;
  }
}

export const MiB = 1024 * 1024;

/** The figures a load run yields; the harness's Sample carries them too. NaN where one does not apply. */
export interface LoadFigures {
  rps: number;
  mibps: number;
  /** Latency in milliseconds. */
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** What closeload and keepload return (closeload prints it as JSON). */
export interface LoadResult extends LoadFigures {
  requests: number;
  seconds: number;
}

export interface LoadOptions {
  port: number;
  path: string;
  connections: number;
  durationS: number;
  timeoutMs?: number;
}

/**
 * The running counts of one load run: the request every connection sends, when
 * the run ends, the latencies of 2xx answers, bytes read, errors, non-2xx
 * answers and when the last answer ended; `result()` sums them up.
 */
export class LoadTally {
  readonly request: Buffer;
  readonly timeoutMs: number;
  readonly start: number;
  readonly deadline: number;
  readonly latencies: number[] = [];
  bytes = 0;
  errors = 0;
  non2xx = 0;
  last: number;

  /** `agent` goes into `User-Agent: porta-AGENT`; `headers` (each ending in CRLF) after `Accept`. */
  constructor(options: LoadOptions, agent: string, headers = '') {
    this.request = Buffer.from(
      `GET ${options.path} HTTP/1.1\r\nHost: 127.0.0.1:${options.port}\r\n` +
        `User-Agent: porta-${agent}\r\nAccept: */*\r\n${headers}\r\n`,
      'latin1',
    );
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.start = performance.now();
    this.deadline = this.start + options.durationS * 1000;
    this.last = this.start;
  }

  result(): LoadResult {
    const seconds = Math.max(1e-3, (this.last - this.start) / 1000);
    const latencies = this.latencies.sort((a, b) => a - b);
    return {
      requests: latencies.length,
      seconds,
      rps: latencies.length / seconds,
      mibps: this.bytes / MiB / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      errors: this.errors,
      non2xx: this.non2xx,
    };
  }
}

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** Share (0–1) of all CPUs busy over `ms`, from /proc/stat; NaN where there is none. */
export async function cpuBusy(ms: number): Promise<number> {
  try {
    const a = cpuTimes();
    await sleep(ms);
    const b = cpuTimes();
    return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : NaN;
  } catch {
    return NaN;
  }
}
