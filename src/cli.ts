#!/usr/bin/env node
// porta's command line: parse (cli/args.ts), check the folder, then run as a
// primary (cluster/primary.ts: it starts the workers and turns signals into
// drains and restarts) or, in a forked worker, serve (cluster/worker.ts).
// Every start-up problem is one line on stderr and exit status 1; a bad
// command line is exit status 2.

import cluster from 'node:cluster';
import { chooseCgiUser } from './cgi/user';
import { HELP, parseCommandLine, type Parsed, rootProblem, UsageError } from './cli/args';
import { banner } from './cli/banner';
import { runPrimary } from './cluster/primary';
import type { Settings } from './config';
import { keepStdioFaultsLocal } from './log';
import { SERVER_NAME, SERVER_VERSION } from './version';

export { parseCommandLine } from './cli/args';

// The primary loads only what it needs (the command line, the banner, the
// cluster): the server, the parsers and the CGI machinery are the workers'.
// That keeps the process that serves nothing near Node's own footprint.

function versionText(): string {
  const { llhttpVersions } = require('./http/parser') as typeof import('./http/parser');
  const v = llhttpVersions();
  return (
    `${SERVER_NAME} ${SERVER_VERSION}\nnode ${process.version}\n` +
    `llhttp ${v.native ?? 'unknown'} (native, Node's own) and the wasm build in ${v.wasm}\n`
  );
}

function fail(message: string, status: number): never {
  process.stderr.write(`porta: ${message}\n`);
  process.exit(status);
}

function parse(): Parsed {
  try {
    return parseCommandLine(process.argv.slice(2));
  } catch (err) {
    if (cluster.isPrimary) process.stderr.write(`porta: ${(err as Error).message}\nTry 'porta --help'.\n`);
    process.exit(2);
  }
}

/**
 * systemd's socket activation (sd_listen_fds(3)): LISTEN_PID is this process,
 * LISTEN_FDS sockets start at fd 3. They are the primary's; the workers are
 * told their numbers, and the variables are unset so no program inherits them.
 */
function inheritedSockets(): number[] {
  const pid = process.env['LISTEN_PID'];
  const count = Number(process.env['LISTEN_FDS']);
  delete process.env['LISTEN_PID'];
  delete process.env['LISTEN_FDS'];
  delete process.env['LISTEN_FDNAMES'];
  if (pid !== String(process.pid) || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: count }, (_, i) => 3 + i);
}

function primary(settings: Settings, rootGiven: boolean): void {
  const problem = rootProblem(settings.root, rootGiven);
  if (problem !== null) fail(problem, 1);
  if (settings.user !== null) {
    if (process.geteuid?.() !== 0) fail(`--user ${settings.user} needs porta to start as root`, 1);
    const choice = chooseCgiUser(settings.user, () => null);
    if (choice.kind === 'error') fail(choice.message.replace('CGI user', 'user'), 1);
  }
  const fds = inheritedSockets();
  // The workers re-read the command line; what only the primary knows goes by environment.
  if (fds.length > 0) process.env['PORTA_LISTEN_FDS'] = fds.join(',');
  runPrimary(
    { ...settings, listenFds: fds },
    {
      ready: (facts) => void process.stdout.write(banner({ settings: { ...settings, listenFds: fds }, ...facts })),
      fatal: (message) => fail(message, 1),
      log: (message) => void process.stderr.write(`[${new Date().toISOString()}] porta: ${message}\n`),
      // SIGHUP: the command line (and its --config file) read again for the new workers' count.
      reload: () => {
        const again = parseCommandLine(process.argv.slice(2));
        if (again.kind !== 'serve') return settings;
        // Said as at start-up, before a worker is forked to fail on it.
        const problem = rootProblem(again.settings.root, again.rootGiven);
        if (problem !== null) throw new Error(problem);
        return again.settings;
      },
    },
  );
}

function worker(settings: Settings): void {
  const { runWorker, shareOf } = require('./cluster/worker') as typeof import('./cluster/worker');
  const { StartupError } = require('./dispatch') as typeof import('./dispatch');
  const { ListenError } = require('./server') as typeof import('./server');
  const workers = settings.workers;
  const limits = settings.limits;
  const fds = process.env['PORTA_LISTEN_FDS'];
  // --cgi-max and --cgi-queue are for the whole server: each worker takes its
  // share, the remainder going to the first slots (3 over 2 workers: 2 + 1),
  // so the shares add up to the flag. A worker whose share is 0 (--cgi-max
  // below --workers) runs no program: 503 at once, never a queue that cannot move.
  const slot = Number(process.env['PORTA_WORKER_SLOT'] ?? '0');
  const share = (total: number): number => shareOf(total, workers, slot);
  const running = share(limits.cgiMaxRunning);
  runWorker({
    settings: {
      ...settings,
      listenFds: fds === undefined ? [] : fds.split(',').map(Number),
      limits: { ...limits, cgiMaxRunning: running, cgiMaxQueued: running === 0 ? 0 : share(limits.cgiMaxQueued) },
    },
    isUserError: (err) => err instanceof StartupError || err instanceof ListenError || err instanceof UsageError,
  });
}

/**
 * --workers 0: no primary. One process listens, serves and takes the signals
 * itself: SIGTERM/SIGINT drain (a second one exits now), SIGUSR1 reopens the
 * logs; a SIGHUP restart and a replaced worker need a primary. The smallest
 * footprint, and one process to watch when studying a request with --trace.
 */
async function single(settings: Settings, rootGiven: boolean): Promise<void> {
  const problem = rootProblem(settings.root, rootGiven);
  if (problem !== null) fail(problem, 1);
  const { createPorta, ListenError } = require('./server') as typeof import('./server');
  const { StartupError } = require('./dispatch') as typeof import('./dispatch');
  const { effectiveParserKind } = require('./http/parser') as typeof import('./http/parser');
  const { dropPrivileges } = require('./cluster/privileges') as typeof import('./cluster/privileges');
  const listenFds = inheritedSockets();
  let porta: ReturnType<typeof createPorta>;
  let listening: Awaited<ReturnType<ReturnType<typeof createPorta>['listen']>>;
  try {
    porta = createPorta({ ...settings, listenFds }, undefined, { adoptOrphans: true });
    listening = await porta.listen();
    if (settings.user !== null) dropPrivileges(settings.user);
  } catch (err) {
    if (err instanceof StartupError || err instanceof ListenError || err instanceof UsageError) fail(err.message, 1);
    throw err;
  }
  const { cgiUser, cgiLauncher } = porta;
  const parser = effectiveParserKind(settings.parser);
  process.stdout.write(banner({ settings: { ...settings, listenFds }, listening, cgiUser, cgiLauncher, parser }));
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      porta.killPrograms();
      process.exit(1);
    }
    stopping = true;
    if (signal === 'SIGINT') process.stdout.write('\nKeyboard interrupt received, exiting.\n');
    void porta.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGUSR1', () => porta.reopenLogs());
  process.on('SIGHUP', () =>
    process.stderr.write('porta: SIGHUP restarts workers, and --workers 0 has none: ignored\n'),
  );
}

function main(): void {
  keepStdioFaultsLocal();
  const parsed = parse();
  if (parsed.kind === 'help') return void process.stdout.write(HELP);
  if (parsed.kind === 'version') return void process.stdout.write(versionText());
  if (!cluster.isPrimary) return worker(parsed.settings);
  if (parsed.settings.workers === 0) {
    single(parsed.settings, parsed.rootGiven).catch((err: Error) => fail(err.message, 1));
    return;
  }
  primary(parsed.settings, parsed.rootGiven);
}

if (require.main === module) main();
