// The servers under test, each started as a child process on a free port,
// waited for until it accepts connections, and stopped (its whole process
// group) at the end. A peer that is not installed is skipped with a reason,
// never faked.

import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { Docroot } from './docroot';
import { captureOutput, freePort, sleep, spawnTracked, stopTracked, waitForPort } from './util';

export const SERVER_NAMES = [
  'porta',
  'porta-pipe',
  'porta-base',
  'porta-mc',
  'porta-mc-rr',
  'porta-1p',
  'node',
  'python',
  'nginx',
  'nginx-2w',
  'lighttpd',
] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export function isServerName(name: string): name is ServerName {
  return (SERVER_NAMES as readonly string[]).includes(name);
}

export interface RunningServer {
  name: ServerName;
  port: number;
  /** The process whose memory is the server's (porta's or node's own; nginx's master; lighttpd's only one). */
  pid: number;
  stop(): Promise<void>;
}

export type StartResult = { ok: true; server: RunningServer } | { ok: false; skipped: string };

export interface StartOptions {
  /** Idle keep-alive seconds (porta --keepalive-timeout, node keepAliveTimeout). */
  keepAliveSeconds?: number;
}

const PYTHON = '/usr/bin/python3';
/** build/bench/ → the repository. */
const REPO = resolve(__dirname, '..', '..');
const PORTA_CLI = join(REPO, 'build', 'src', 'cli.js');
/**
 * porta-base: another build of porta, for A/B runs of a change in one run
 * (PORTA_BASE=/path/to/a/built/checkout, e.g. a `git worktree` of main).
 */
const PORTA_BASE_CLI =
  process.env['PORTA_BASE'] === undefined ? null : join(process.env['PORTA_BASE'], 'build', 'src', 'cli.js');
const NODE_PEER = join(__dirname, 'node-peer.js');
const NGINX_TEMPLATE = join(REPO, 'bench', 'nginx.conf.template');
const LIGHTTPD_TEMPLATE = join(REPO, 'bench', 'lighttpd.conf.template');

/** A program on PATH or in the sbin folders (root's tools live there). */
export function findProgram(name: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Why a server cannot run here, or null. */
export function unavailable(name: ServerName): string | null {
  switch (name) {
    case 'porta':
    case 'porta-pipe':
    case 'porta-mc':
    case 'porta-mc-rr':
    case 'porta-1p':
      return existsSync(PORTA_CLI) ? null : `${PORTA_CLI} missing (run make build)`;
    case 'porta-base':
      if (PORTA_BASE_CLI === null) return 'skipped: set PORTA_BASE to a built checkout to compare with';
      return existsSync(PORTA_BASE_CLI) ? null : `${PORTA_BASE_CLI} missing (run make build there)`;
    case 'node':
      return existsSync(NODE_PEER) ? null : `${NODE_PEER} missing (run make build)`;
    case 'python':
      return existsSync(PYTHON) ? null : `${PYTHON} not installed`;
    case 'nginx':
    case 'nginx-2w':
      if (findProgram('nginx') === null) return 'skipped: nginx not installed (run make bench-peers)';
      if (findProgram('fcgiwrap') === null) return 'skipped: fcgiwrap not installed (run make bench-peers)';
      return null;
    case 'lighttpd':
      return findProgram('lighttpd') === null ? 'skipped: lighttpd not installed (run make bench-peers)' : null;
  }
}

async function started(
  name: ServerName,
  child: ChildProcess,
  port: number,
  stops: ChildProcess[],
): Promise<RunningServer> {
  const output = captureOutput(child);
  try {
    await waitForPort(port, child, name);
  } catch (err) {
    for (const c of stops) await stopTracked(c);
    throw new Error(`${(err as Error).message}\n${output()}`);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: no pid`);
  return {
    name,
    port,
    pid,
    async stop() {
      for (const c of stops) await stopTracked(c);
    },
  };
}

export async function startServer(
  name: ServerName,
  docroot: Docroot,
  options: StartOptions = {},
): Promise<StartResult> {
  const reason = unavailable(name);
  if (reason !== null) return { ok: false, skipped: reason.startsWith('skipped') ? reason : `skipped: ${reason}` };
  const port = await freePort();
  const keepAlive = options.keepAliveSeconds;
  switch (name) {
    case 'porta':
    case 'porta-pipe':
    case 'porta-base':
    case 'porta-mc':
    case 'porta-mc-rr':
    case 'porta-1p': {
      const cli = name === 'porta-base' ? (PORTA_BASE_CLI as string) : PORTA_CLI;
      const args = [cli, '--quiet', '--host', '127.0.0.1', '--port', String(port), '--root', docroot.root];
      if (name === 'porta-pipe') args.push('--cgi-stdout', 'pipe');
      // All cores: one worker a core, sharing the socket or dealt connections by the primary.
      if (name === 'porta-mc') args.push('--workers', 'auto', '--balance', 'shared');
      if (name === 'porta-mc-rr') args.push('--workers', 'auto', '--balance', 'round-robin');
      // One process, no primary: what W7 costs without a supervisor.
      if (name === 'porta-1p') args.push('--workers', '0');
      if (keepAlive !== undefined) args.push('--keepalive-timeout', String(keepAlive));
      // For experiments: extra porta flags, e.g. PORTA_BENCH_ARGS='--cgi-nice 10'.
      args.push(...(process.env['PORTA_BENCH_ARGS'] ?? '').split(' ').filter((arg) => arg !== ''));
      const child = spawnTracked(process.execPath, args);
      return { ok: true, server: await started(name, child, port, [child]) };
    }
    case 'node': {
      const args = [NODE_PEER, '--host', '127.0.0.1', '--port', String(port), '--root', docroot.root];
      if (keepAlive !== undefined) args.push('--keepalive-timeout', String(keepAlive));
      const child = spawnTracked(process.execPath, args);
      return { ok: true, server: await started(name, child, port, [child]) };
    }
    case 'python': {
      const child = spawnTracked(PYTHON, ['-m', 'http.server', '--cgi', '--bind', '127.0.0.1', String(port)], {
        cwd: docroot.root,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      return { ok: true, server: await started(name, child, port, [child]) };
    }
    case 'nginx':
    case 'nginx-2w':
      return { ok: true, server: await startNginx(name, name === 'nginx' ? 1 : 2, port, docroot) };
    case 'lighttpd':
      return { ok: true, server: await startLighttpd(name, port, docroot) };
  }
}

/** A template's {{KEY}} fields filled in. */
function fillTemplate(template: string, fill: Record<string, string>): string {
  return readFileSync(template, 'utf8').replace(/\{\{(\w+)\}\}/g, (whole, key: string) => fill[key] ?? whole);
}

async function startNginx(name: ServerName, workers: number, port: number, docroot: Docroot): Promise<RunningServer> {
  const nginx = findProgram('nginx') as string;
  const fcgiwrap = findProgram('fcgiwrap') as string;
  const tmp = mkdtempSync(join(docroot.base, `${name}-`));
  for (const dir of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(tmp, dir));
  const fill: Record<string, string> = {
    // Workers would drop to `nobody`, who may not reach a root-owned temp tree.
    USER_LINE: process.getuid?.() === 0 ? 'user root;' : '',
    WORKERS: String(workers),
    TMP: tmp,
    PORT: String(port),
    ROOT: docroot.root,
  };
  writeFileSync(join(tmp, 'nginx.conf'), fillTemplate(NGINX_TEMPLATE, fill));

  const socket = join(tmp, 'fcgiwrap.sock');
  const fcgi = spawnTracked(fcgiwrap, ['-s', `unix:${socket}`, '-c', '4']);
  const fcgiOutput = captureOutput(fcgi);
  const deadline = Date.now() + 5000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || fcgi.exitCode !== null) {
      await stopTracked(fcgi);
      throw new Error(`fcgiwrap did not create ${socket}: ${fcgiOutput()}`);
    }
    await sleep(20);
  }
  const master = spawnTracked(nginx, ['-p', tmp, '-e', join(tmp, 'error.log'), '-c', join(tmp, 'nginx.conf')]);
  return started(name, master, port, [master, fcgi]);
}

/** The hard limit on open files, which a child inherits and cannot raise (from /proc/self/limits). */
function hardFileLimit(): number {
  try {
    const m = /^Max open files\s+\S+\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m?.[1] === undefined) return 1024;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return 1024;
  }
}

/**
 * lighttpd in the foreground (-D), one process: static files itself, /cgi-bin/
 * through mod_cgi (it forks and execs each program). Its pid, log and upload
 * folder live in a temp folder; the process group goes at stop().
 */
async function startLighttpd(name: ServerName, port: number, docroot: Docroot): Promise<RunningServer> {
  const lighttpd = findProgram('lighttpd') as string;
  const tmp = mkdtempSync(join(docroot.base, `${name}-`));
  mkdirSync(join(tmp, 'upload'));
  const conf = join(tmp, 'lighttpd.conf');
  const maxFds = Math.min(hardFileLimit(), 65_536);
  const fill: Record<string, string> = {
    TMP: tmp,
    PORT: String(port),
    ROOT: docroot.root,
    MAX_FDS: String(maxFds),
    // lighttpd's own ceiling: a connection may hold a second fd (a file, a CGI pipe).
    MAX_CONNECTIONS: String(Math.floor(maxFds / 2)),
  };
  writeFileSync(conf, fillTemplate(LIGHTTPD_TEMPLATE, fill));
  const child = spawnTracked(lighttpd, ['-D', '-f', conf]);
  try {
    return await started(name, child, port, [child]);
  } catch (err) {
    // Once its error log is open lighttpd writes there, not to stderr.
    let log = '';
    try {
      log = readFileSync(join(tmp, 'error.log'), 'utf8').slice(-2048);
    } catch {
      // not opened yet: stderr said it
    }
    throw new Error(`${(err as Error).message}\n${log}`);
  }
}
