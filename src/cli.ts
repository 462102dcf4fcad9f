#!/usr/bin/env node
// porta's command line: flags → Settings → server. Durations are given in
// seconds (as in nginx's config), kept in milliseconds inside.

import { parseArgs } from 'node:util';
import {
  defaultLimits,
  defaultSettings,
  type CgiSpawnMethod,
  type CgiStdoutMode,
  type Limits,
  type Settings,
} from './config';
import { effectiveParserKind, llhttpVersions, type ParserKind } from './http/parser';
import { SERVER_NAME, SERVER_VERSION } from './http/response';
import { createPorta } from './server';

const HELP = `Usage: porta [options]

Serve a folder over HTTP/1.1 and run CGI/1.1 programs (RFC 3875).

  --root DIR               folder to serve (default: html)
  --host ADDR              address to listen on (default: :: and 0.0.0.0)
  --port N                 port (default: 8080; 0 picks a free one)
  --parser wasm|native     llhttp build: undici's WebAssembly (default) or Node's own
  --quiet                  no access log
  --trace                  one line on stderr per connection event: states, llhttp events, answers
  --dotfiles               serve names starting with '.' (default: 404)
  --header-timeout S       seconds for a whole request head (default: 10)
  --body-timeout S         seconds a request body may stall (default: 10)
  --keepalive-timeout S    seconds an idle connection is kept (default: 5)
  --send-timeout S         seconds a client may stall reading a response (default: 60)
  --max-header-size BYTES  request head limit, URL included (default: 16384)
  --max-url BYTES          request-target limit (default: 8192)
  --max-body BYTES         request body limit (default: 67108864)
  --max-connections N      simultaneous connections (default: 20000)
  --max-requests N         requests answered on one connection before it closes (default: 100000)
  --cgi-dir PATH           URL folder whose files are programs; repeatable (default: /cgi-bin, /htbin)
  --cgi-ext LIST           extensions run as CGI anywhere, e.g. .cgi,.py
  --cgi-interpreter E=P    interpreter for an extension, e.g. .py=/usr/bin/python3, run even without +x; repeatable
  --cgi-stdout socket|pipe the program's stdout is the client socket (default), or a parsed pipe
  --cgi-spawn METHOD       auto (default), addon (vfork on a worker thread) or child_process
  --cgi-user NAME          user programs run as when porta is root (default: nobody; root only if named)
  --cgi-pass-env NAMES     server variables passed to programs, comma-separated; repeatable
  --cgi-timeout S          seconds a program may run (default: 30)
  --cgi-max N              programs running at once (default: 64)
  --cgi-queue N            requests waiting for a program slot (default: 256)
  --cgi-nice N             niceness added to programs, 0-19 (default: 0)
  --help                   this text
  --version                porta's, Node's and llhttp's versions
`;

class UsageError extends Error {}

function seconds(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} wants a positive number of seconds, not "${value}"`);
  return Math.round(n * 1000);
}

function count(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} wants a whole number ≥ ${min}, not "${value}"`);
  return n;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${name} is one of ${allowed.join(', ')}`);
  return value as T;
}

export function parseCommandLine(argv: string[]): Settings | 'help' | 'version' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      root: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      parser: { type: 'string' },
      quiet: { type: 'boolean' },
      trace: { type: 'boolean' },
      dotfiles: { type: 'boolean' },
      'header-timeout': { type: 'string' },
      'body-timeout': { type: 'string' },
      'keepalive-timeout': { type: 'string' },
      'send-timeout': { type: 'string' },
      'max-header-size': { type: 'string' },
      'max-url': { type: 'string' },
      'max-body': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-requests': { type: 'string' },
      'cgi-nice': { type: 'string' },
      'cgi-dir': { type: 'string', multiple: true },
      'cgi-ext': { type: 'string', multiple: true },
      'cgi-interpreter': { type: 'string', multiple: true },
      'cgi-stdout': { type: 'string' },
      'cgi-user': { type: 'string' },
      'cgi-spawn': { type: 'string' },
      'cgi-pass-env': { type: 'string', multiple: true },
      'cgi-timeout': { type: 'string' },
      'cgi-max': { type: 'string' },
      'cgi-queue': { type: 'string' },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
    },
  });
  if (values.help === true) return 'help';
  if (values.version === true) return 'version';
  const d = defaultLimits;
  const limits: Limits = {
    ...d,
    headerTimeoutMs: seconds('header-timeout', values['header-timeout'], d.headerTimeoutMs),
    bodyTimeoutMs: seconds('body-timeout', values['body-timeout'], d.bodyTimeoutMs),
    keepAliveTimeoutMs: seconds('keepalive-timeout', values['keepalive-timeout'], d.keepAliveTimeoutMs),
    sendTimeoutMs: seconds('send-timeout', values['send-timeout'], d.sendTimeoutMs),
    maxHeaderSize: count('max-header-size', values['max-header-size'], d.maxHeaderSize, 256),
    maxUrlLength: count('max-url', values['max-url'], d.maxUrlLength, 16),
    maxBodySize: count('max-body', values['max-body'], d.maxBodySize, 0),
    maxConnections: count('max-connections', values['max-connections'], d.maxConnections),
    maxRequestsPerConnection: count('max-requests', values['max-requests'], d.maxRequestsPerConnection),
    cgiTimeoutMs: seconds('cgi-timeout', values['cgi-timeout'], d.cgiTimeoutMs),
    cgiMaxRunning: count('cgi-max', values['cgi-max'], d.cgiMaxRunning),
    cgiMaxQueued: count('cgi-queue', values['cgi-queue'], d.cgiMaxQueued, 0),
    cgiNice: Math.min(19, count('cgi-nice', values['cgi-nice'], d.cgiNice, 0)),
  };
  const split = (list: string[] | undefined) =>
    (list ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => v !== '');
  const interpreters = { ...defaultSettings.cgiInterpreters };
  const explicit: string[] = [];
  for (const pair of values['cgi-interpreter'] ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--cgi-interpreter wants .ext=program, not "${pair}"`);
    const ext = pair.slice(0, eq).startsWith('.') ? pair.slice(0, eq) : '.' + pair.slice(0, eq);
    interpreters[ext.toLowerCase()] = pair.slice(eq + 1);
    explicit.push(ext.toLowerCase());
  }
  const cgiDirs =
    values['cgi-dir'] === undefined
      ? defaultSettings.cgiDirs
      : split(values['cgi-dir']).map((dir) => '/' + dir.replace(/^\/+|\/+$/g, ''));
  const port = count('port', values.port, defaultSettings.port, 0);
  if (port > 65535) throw new UsageError('--port is at most 65535');
  return {
    ...defaultSettings,
    root: values.root ?? defaultSettings.root,
    host: values.host ?? '',
    port,
    parser: oneOf<ParserKind>('parser', values.parser, ['wasm', 'native'], defaultSettings.parser),
    quiet: values.quiet === true,
    trace: values.trace === true,
    dotfiles: values.dotfiles === true,
    cgiDirs,
    cgiExtensions: split(values['cgi-ext']).map((e) => (e.startsWith('.') ? e : '.' + e)),
    cgiInterpreters: interpreters,
    cgiExplicitInterpreters: explicit,
    cgiUser: values['cgi-user'] ?? null,
    cgiStdout: oneOf<CgiStdoutMode>('cgi-stdout', values['cgi-stdout'], ['socket', 'pipe'], defaultSettings.cgiStdout),
    cgiSpawn: oneOf<CgiSpawnMethod>(
      'cgi-spawn',
      values['cgi-spawn'] === 'posix_spawn' ? 'addon' : values['cgi-spawn'], // its name before vfork
      ['auto', 'addon', 'child_process'],
      defaultSettings.cgiSpawn,
    ),
    cgiPassEnv: values['cgi-pass-env'] === undefined ? defaultSettings.cgiPassEnv : split(values['cgi-pass-env']),
    limits,
  };
}

function versionText(): string {
  const v = llhttpVersions();
  return (
    `${SERVER_NAME} ${SERVER_VERSION}\nnode ${process.version}\n` +
    `llhttp ${v.native ?? 'unknown'} (native, Node's own) and the wasm build in ${v.wasm}\n`
  );
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`porta: ${(err as Error).message}\nTry 'porta --help'.\n`);
    process.exit(2);
  }
  if (parsed === 'help') return void process.stdout.write(HELP);
  if (parsed === 'version') return void process.stdout.write(versionText());
  let settings = parsed;
  // No --host: both IPv6 and IPv4 where the machine has IPv6, else IPv4 alone.
  let porta = createPorta({ ...settings, host: settings.host === '' ? '::' : settings.host });
  let where: { address: string; port: number };
  try {
    where = await porta.listen();
  } catch (err) {
    if (settings.host !== '' || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
    settings = { ...settings, host: '0.0.0.0' };
    porta = createPorta(settings);
    where = await porta.listen();
  }
  const parser = effectiveParserKind(settings.parser);
  process.stdout.write(
    `porta ${SERVER_VERSION}: directory ${settings.root}, address ${where.address}, port ${where.port}` +
      ` (llhttp ${parser}, CGI stdout ${settings.cgiStdout} via ${porta.cgiLauncher}, programs run as ${porta.cgiUser})\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    porta.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`porta: ${err.message}\n`);
    process.exit(1);
  });
}
