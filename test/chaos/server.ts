// A real porta in its own process: `node build/src/cli.js`, port 0, found in the
// start banner. Its exit is watched from the first moment (any exit before we
// stop it is a failure), its stderr kept (the tail is printed when a run fails).

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf } from './probe';
import type { Mode } from './requests';

export const CLI = join(__dirname, '..', '..', 'src', 'cli.js');

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds since the run started. */
  atMs: number;
}

export interface PortaProcess {
  mode: Mode;
  /** The serving process: porta's one worker (its fds, memory and programs are what is checked). */
  pid: number;
  /** The primary: it only starts and replaces the worker. */
  primaryPid: number;
  port: number;
  /** Set when the process exited; `expected` once we stopped it ourselves. */
  exit: ExitInfo | null;
  expected: boolean;
  /** Resolves when the process exits. */
  exited: Promise<ExitInfo>;
  stderrTail(lines: number): string[];
  /** SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<void>;
}

const STDERR_KEEP = 256 * 1024;

/** The port from the banner: `port 41234` today, or a URL `http://127.0.0.1:41234/`. */
export function bannerPort(text: string): number | null {
  const m = /\bhttps?:\/\/(?:\[[^\]\s]*\]|[^\s/:]+):(\d{1,5})\b/.exec(text) ?? /\bport[\s:=]+(\d{1,5})\b/i.exec(text);
  const port = Number(m?.[1] ?? Number.NaN);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : null;
}

export function startPorta(root: string, mode: Mode, startedAt: number, spool: string): Promise<PortaProcess> {
  const args = [CLI, '--root', root, '--port', '0', '--host', '127.0.0.1', '--quiet', '--cgi-stdout', mode];
  // CHAOS_PORTA_ARGS: extra flags for both servers (debugging: --trace, --parser native).
  args.push(...(process.env['CHAOS_PORTA_ARGS'] ?? '').split(' ').filter((a) => a !== ''));
  // Without NODE_OPTIONS: under tap it carries the test runner's --import hooks,
  // which a server has no business running (they also open fds of their own).
  const { NODE_OPTIONS: _, ...inherited } = process.env;
  const env = { ...inherited, TMPDIR: spool };
  const child = spawn(process.execPath, args, { cwd: tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  // CHAOS_SERVER_LOG=DIR: every byte of each server's stderr in DIR/<mode>.log (debugging).
  const logDir = process.env['CHAOS_SERVER_LOG'];
  if (logDir !== undefined) child.stderr.pipe(createWriteStream(join(logDir, `${mode}.log`)));
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString('utf8');
    stderr += text;
    if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
    // The primary replaces a worker that dies: for chaos that is porta crashing, as an exit would be.
    const died = /worker \d+ \(pid \d+\) died: (?:exit code (\d+)|signal (\w+))/.exec(text);
    if (died !== null && proc.exit === null) {
      const signal = (died[2] as NodeJS.Signals | undefined) ?? null;
      proc.exit = { code: died[1] === undefined ? null : Number(died[1]), signal, atMs: Date.now() - startedAt };
      dead(proc.exit);
    }
  });
  let dead: (info: ExitInfo) => void = () => undefined;
  const workerDied = new Promise<ExitInfo>((resolve) => {
    dead = resolve;
  });
  const primaryExited = new Promise<ExitInfo>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() - startedAt }));
  });
  let primaryDone = false;
  void primaryExited.then(() => {
    primaryDone = true;
  });
  const exited = Promise.race([primaryExited, workerDied]);
  const proc: PortaProcess = {
    mode,
    pid: -1,
    primaryPid: child.pid ?? -1,
    port: 0,
    exit: null,
    expected: false,
    exited,
    stderrTail: (lines) =>
      stderr
        .split('\n')
        .filter((l) => l !== '')
        .slice(-lines),
    stop: async () => {
      if (primaryDone) return;
      // A worker that died was replaced by the primary: that server has
      // failed already, so it and its workers go at once (the harness must
      // not wait on them: it did, forever, after such a failure).
      const failed = proc.exit !== null;
      proc.expected = true;
      const killAll = () => {
        for (const worker of childrenOf(proc.primaryPid)) {
          if (worker.comm !== 'node') continue;
          try {
            process.kill(worker.pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        child.kill('SIGKILL');
      };
      if (failed) killAll();
      else child.kill('SIGTERM');
      const timer = setTimeout(killAll, 3000);
      await primaryExited;
      clearTimeout(timer);
    },
  };
  void exited.then((info) => {
    proc.exit = info;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `porta (${mode}) printed no port in 10 s; stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr.slice(-2000))}`,
        ),
      );
    }, 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start porta: ${err.message}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      if (proc.port !== 0) return;
      stdout += d.toString('utf8');
      const port = bannerPort(stdout);
      if (port !== null) {
        proc.port = port;
        clearTimeout(timer);
        const worker = childrenOf(proc.primaryPid).find((p) => p.comm === 'node');
        if (worker === undefined) return reject(new Error(`porta (${mode}) listens, but its worker is not found`));
        proc.pid = worker.pid;
        resolve(proc);
      }
    });
    void exited.then((info) => {
      clearTimeout(timer);
      if (proc.port === 0) {
        reject(
          new Error(
            `porta (${mode}) exited at start (code ${info.code}, signal ${info.signal}): ${stderr.slice(-2000)}`,
          ),
        );
      }
    });
  });
}
