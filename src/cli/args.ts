// The command line → Settings. porta's own flags, and the command line people
// already type for Python's server (`python3 -m http.server [--cgi] [-b ADDR]
// [-d DIR] [-p VERSION] [--tls-cert F --tls-key F] [port]`), so that the swap
// is one word. Durations are given in seconds (as in nginx's config), kept in
// milliseconds inside.

import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type CgiSpawnMethod,
  type CgiStdoutMode,
  defaultLimits,
  defaultSettings,
  LOOPBACK,
  type Limits,
  type ProtocolVersion,
  type Settings,
} from '../config';
import type { ParserKind } from '../http/parser';

export const HELP = `Usage: porta [options] [port]

Serve a folder over HTTP/1.1 and run CGI/1.1 programs (RFC 3875).
Python's command line works too: porta --cgi -b ADDR -d DIR 8000

  port, --port N           port (default: 8080; 0 picks a free one)
  -d, --directory DIR      folder to serve (default: ./html if there is one, else .)
      --root DIR           the same
  -b, --bind ADDR          address to listen on (default: 127.0.0.1 and ::1, this machine only;
      --host ADDR          -b 0.0.0.0 or -b :: serves the network)
  -p, --protocol VERSION   HTTP/1.1 (default), or HTTP/1.0: one request a connection, as Python answered
  --tls-cert FILE          serve HTTPS with this certificate (PEM; chain included)
  --tls-key FILE           and this private key (PEM)
  --tls-password-file FILE the key's passphrase (its first line)
  --cgi                    run CGI programs (the default; accepted for Python's command line)
  --no-cgi                 a static server only: nothing is ever run
  --cache-control VALUE    Cache-Control for files (default: no-cache, revalidate each time; none: omit)
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

export class UsageError extends Error {}

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

/** Python's -p takes "HTTP/1.0"; porta also takes "1.0". */
function protocol(value: string | undefined): ProtocolVersion {
  if (value === undefined) return defaultSettings.protocol;
  const version = value.replace(/^HTTP\//i, '');
  if (version === '1.0' || version === '1.1') return version;
  throw new UsageError(`-p/--protocol is HTTP/1.0 or HTTP/1.1, not "${value}"`);
}

/** Python's default: ./html when the folder has one (porta's layout), else the current folder. */
export function defaultRoot(cwd: string = process.cwd()): string {
  try {
    if (statSync(`${cwd}/html`).isDirectory()) return 'html';
  } catch {
    // no html/ here
  }
  return '.';
}

export type Parsed = { kind: 'serve'; settings: Settings; rootGiven: boolean } | { kind: 'help' } | { kind: 'version' };

export function parseCommandLine(argv: string[]): Parsed {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      root: { type: 'string' },
      directory: { type: 'string', short: 'd' },
      host: { type: 'string' },
      bind: { type: 'string', short: 'b' },
      port: { type: 'string' },
      protocol: { type: 'string', short: 'p' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-password-file': { type: 'string' },
      cgi: { type: 'boolean' },
      'no-cgi': { type: 'boolean' },
      'cache-control': { type: 'string' },
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
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  if (positionals.length > 1) throw new UsageError(`one port at most, not "${positionals.join(' ')}"`);
  if (positionals.length === 1 && values.port !== undefined)
    throw new UsageError('a port twice (positional and --port)');
  if (values.cgi === true && values['no-cgi'] === true) throw new UsageError('--cgi and --no-cgi together');
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
    const ext = (pair.slice(0, eq).startsWith('.') ? pair.slice(0, eq) : `.${pair.slice(0, eq)}`).toLowerCase();
    interpreters[ext] = pair.slice(eq + 1);
    explicit.push(ext);
  }
  const cgiDirs =
    values['cgi-dir'] === undefined
      ? defaultSettings.cgiDirs
      : split(values['cgi-dir']).map((dir) => `/${dir.replace(/^\/+|\/+$/g, '')}`);
  const port = count('port', values.port ?? positionals[0], defaultSettings.port, 0);
  if (port > 65535) throw new UsageError('the port is at most 65535');
  const host = values.bind ?? values.host;
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  const root = values.root ?? values.directory;
  const cacheControl = values['cache-control'];
  return {
    kind: 'serve',
    rootGiven: root !== undefined,
    settings: {
      ...defaultSettings,
      root: root ?? defaultRoot(),
      hosts: host === undefined ? LOOPBACK : [host],
      port,
      tls:
        certFile === undefined || keyFile === undefined
          ? null
          : { cert: certFile, key: keyFile, passwordFile: values['tls-password-file'] ?? null },
      protocol: protocol(values.protocol),
      cgi: values['no-cgi'] !== true,
      cacheControl:
        cacheControl === undefined ? defaultSettings.cacheControl : cacheControl === 'none' ? null : cacheControl,
      parser: oneOf<ParserKind>('parser', values.parser, ['wasm', 'native'], defaultSettings.parser),
      quiet: values.quiet === true,
      trace: values.trace === true,
      dotfiles: values.dotfiles === true,
      cgiDirs,
      cgiExtensions: split(values['cgi-ext']).map((e) => (e.startsWith('.') ? e : `.${e}`)),
      cgiInterpreters: interpreters,
      cgiExplicitInterpreters: explicit,
      cgiUser: values['cgi-user'] ?? null,
      cgiStdout: oneOf<CgiStdoutMode>(
        'cgi-stdout',
        values['cgi-stdout'],
        ['socket', 'pipe'],
        defaultSettings.cgiStdout,
      ),
      cgiSpawn: oneOf<CgiSpawnMethod>(
        'cgi-spawn',
        values['cgi-spawn'] === 'posix_spawn' ? 'addon' : values['cgi-spawn'], // its name before vfork
        ['auto', 'addon', 'child_process'],
        defaultSettings.cgiSpawn,
      ),
      cgiPassEnv: values['cgi-pass-env'] === undefined ? defaultSettings.cgiPassEnv : split(values['cgi-pass-env']),
      limits,
    },
  };
}

/** The root as the user will understand an error about it. */
export function rootProblem(root: string, given: boolean): string | null {
  if (existsSync(root) && statSync(root).isDirectory()) return null;
  return given || root !== '.' ? `folder '${root}' not found: give one with -d/--root` : `folder '${root}' not found`;
}
