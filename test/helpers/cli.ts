// porta as an operator runs it: `node build/src/cli.js …`, a primary and its
// workers, found through /proc. Every process it started is killed at the
// end of the test (workers first: a killed primary's workers would drain on
// their own, slowly).

import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { sleep } from './porta';

export const REPO = join(__dirname, '..', '..', '..');
export const CLI = join(REPO, 'build', 'src', 'cli.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningCli {
  child: ChildProcess;
  pid: number;
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when the primary exits. */
  exited: Promise<Exit>;
  exit: Exit | null;
  /** The primary's node children: its workers. */
  workers(): number[];
  signal(name: NodeJS.Signals): void;
}

/** A process's parent and name, from /proc/PID/stat (null once it is gone). */
export function procStat(pid: number): { ppid: number; comm: string; state: string } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    return { ppid: Number(rest[1]), comm: text.slice(text.indexOf('(') + 1, close), state: rest[0] ?? '?' };
  } catch {
    return null;
  }
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat !== null && stat.ppid === pid && stat.state !== 'Z') out.push(Number(name));
  }
  return out;
}

/** The real uid a process runs as. */
export function uidOf(pid: number): number | null {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}

export async function waitUntil(condition: () => boolean, timeoutMs = 5000, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) return false;
    await sleep(stepMs);
  }
  return true;
}

/**
 * Start porta with `args` (add --port 0 -b 127.0.0.1 yourself, or a command
 * that execs it); resolves once the banner names a URL.
 */
export async function startCli(
  t: Test,
  args: string[],
  options: { command?: string[]; env?: NodeJS.ProcessEnv; waitForBanner?: boolean } = {},
): Promise<RunningCli> {
  const command = options.command ?? [process.execPath, CLI];
  // Without tap's NODE_OPTIONS (its loader hooks) and NODE_V8_COVERAGE (every process
  // would write a coverage file at exit): a server has no business with either.
  const { NODE_OPTIONS: _, NODE_V8_COVERAGE: __, ...env } = { ...process.env, ...options.env };
  const spawnOptions: SpawnOptions = { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] };
  const child = spawn(command[0] as string, [...command.slice(1), ...args], spawnOptions);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const running: RunningCli = {
    child,
    pid: child.pid ?? -1,
    port: 0,
    stdout: () => stdout,
    stderr: () => stderr,
    exit: null,
    exited: new Promise((resolve) => {
      child.on('close', (code, signal) => {
        running.exit = { code, signal };
        resolve(running.exit);
      });
    }),
    workers: () => childrenOf(child.pid ?? -1).filter((pid) => procStat(pid)?.comm === 'node'),
    signal: (name) => void child.kill(name),
  };
  t.teardown(async () => {
    if (running.exit !== null) return;
    for (const pid of running.workers()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    child.kill('SIGKILL');
    await running.exited;
  });
  if (options.waitForBanner === false) return running;
  await waitUntil(() => /https?:\/\/\S+:(\d+)\//.test(stdout) || running.exit !== null, 10_000);
  const port = Number(/https?:\/\/\S+:(\d+)\//.exec(stdout)?.[1] ?? Number.NaN);
  if (!Number.isInteger(port)) throw new Error(`porta did not start: ${stdout} ${stderr}`);
  running.port = port;
  return running;
}
