// The command line → Settings. porta's own flags, and the command line people
// already type for Python's server (`python3 -m http.server [--cgi] [-b ADDR]
// [-d DIR] [-p VERSION] [--tls-cert F --tls-key F] [port]`), so that the swap
// is one word. Durations are given in seconds (as in nginx's config), kept in
// milliseconds inside.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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
import { AddressRanges } from '../http/cidr';
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
  --trace                  one line on stderr per connection event: reads, llhttp callbacks, states,
                           dispatch, CGI spawn and exit, writes, answers
  --trace-format FORMAT    text (default) or json (one object a line; error lines on stderr become
                           {"time", "error"} objects too)
  --trace-bytes N          bytes of each read and head shown (default: 256)
  --flow                   the live flow page at /.porta/flow (loopback clients only)
  --dotfiles               serve names starting with '.' (default: 404)
  --no-sendfile            stream large files through Node instead of sendfile(2)
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
  --cgi-spawn METHOD       auto (default), addon (clone3 from the event loop) or child_process
  --cgi-user NAME          user programs run as when porta is root (default: nobody; root only if named)
  --cgi-pass-env NAMES     server variables passed to programs, comma-separated; repeatable
  --cgi-timeout S          seconds a program may run (default: 30)
  --cgi-max N              programs running at once (default: 64)
  --cgi-queue N            requests waiting for a program slot (default: 256)
  --cgi-nice N             niceness added to programs over porta's, 0-19 (default: 10)

Operations (README, "Operations"):
  --workers N|auto         serving processes under one primary (default: 1; auto: one a core;
                           0: no primary, one process does everything — no SIGHUP restart)
  --balance shared|round-robin  workers accept from the shared socket (default), or the primary deals connections
  --grace S                SIGTERM/SIGHUP: seconds answers in flight may take to finish (default: 10)
  --user NAME              bind as root, then serve (and run programs) as NAME
  --config FILE            more flags from FILE (one or more a line, # comments); re-read at SIGHUP
  --access-log FILE|-      the access log (default: - for stdout)
  --log-format FORMAT      common (default), combined or json; all carry µs request and program times
  --error-log FILE         errors to FILE instead of stderr
  --status-path PATH       serve the status page there (e.g. /.porta/status; off by default)
  --status-allow CIDRS     who besides loopback may see it, comma-separated
  --trust-proxy CIDRS      peers whose X-Forwarded-For/Forwarded/PROXY header names the client
  --proxy-protocol         every connection starts with a PROXY v1/v2 header (from --trust-proxy peers only)
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

/**
 * --config FILE: flags kept in a file, one or more a line, `#` starts a
 * comment, "double quotes" keep spaces. They come before the command line's
 * own, so a flag given on the command line wins. A worker started by SIGHUP
 * reads the file again: that is how flags change without a refused connection.
 */
export function withConfigFile(
  argv: string[],
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): string[] {
  const at = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (at < 0) return argv;
  const inline = argv[at]?.startsWith('--config=') === true;
  const path = inline ? (argv[at] as string).slice('--config='.length) : argv[at + 1];
  if (path === undefined || path === '') throw new UsageError('--config wants a file');
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new UsageError(
      `cannot read --config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const fromFile: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    for (const m of line.replace(/(^|\s)#.*$/, '').matchAll(/"([^"]*)"|(\S+)/g)) fromFile.push(m[1] ?? m[2] ?? '');
  }
  if (fromFile.some((a) => a === '--config' || a.startsWith('--config=')))
    throw new UsageError('--config inside --config');
  const rest = [...argv.slice(0, at), ...argv.slice(at + (inline ? 1 : 2))];
  return [...fromFile, ...rest];
}

/** --workers: a count, or auto (the cores this process may use). */
function workerCount(value: string | undefined): number {
  if (value === 'auto') return availableParallelism();
  return count('workers', value, defaultSettings.workers, 0);
}

/** Comma-separated address ranges, checked now (a typo is a usage error, not an open door). */
function ranges(name: string, list: string[] | undefined): string[] {
  const all = (list ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  try {
    new AddressRanges(all);
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`);
  }
  return all;
}

export function parseCommandLine(commandLine: string[]): Parsed {
  const argv = withConfigFile(commandLine);
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
      'trace-format': { type: 'string' },
      'trace-bytes': { type: 'string' },
      flow: { type: 'boolean' },
      dotfiles: { type: 'boolean' },
      'no-sendfile': { type: 'boolean' },
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
      workers: { type: 'string' },
      balance: { type: 'string' },
      grace: { type: 'string' },
      user: { type: 'string' },
      config: { type: 'string' },
      'access-log': { type: 'string' },
      'log-format': { type: 'string' },
      'error-log': { type: 'string' },
      'status-path': { type: 'string' },
      'status-allow': { type: 'string', multiple: true },
      'trust-proxy': { type: 'string', multiple: true },
      'proxy-protocol': { type: 'boolean' },
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
    graceMs: seconds('grace', values.grace, d.graceMs),
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
  // A field value (RFC 9110 §5.5): visible characters, spaces and tabs; a CR or LF would end the field.
  if (cacheControl !== undefined && !/^[\t\x20-\x7e]*$/.test(cacheControl))
    throw new UsageError('--cache-control takes a header value: no control characters, no line break');
  const user = values.user ?? null;
  // Workers run as --user: programs can only run as that user too (no root left to switch).
  const cgiUser = values['cgi-user'] ?? user;
  if (user !== null && cgiUser !== user)
    throw new UsageError('--cgi-user differs from --user: once porta is not root, programs run as its own user');
  const statusPath = values['status-path'] ?? null;
  if (statusPath !== null && !statusPath.startsWith('/'))
    throw new UsageError('--status-path is a path, like /.porta/status');
  const trustProxy = ranges('trust-proxy', values['trust-proxy']);
  if (values['proxy-protocol'] === true && trustProxy.length === 0)
    throw new UsageError('--proxy-protocol needs --trust-proxy: whose PROXY header is to be believed?');
  const accessLog = values['access-log'] ?? defaultSettings.accessLog;
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
      workers: workerCount(values.workers),
      balance: oneOf('balance', values.balance, ['shared', 'round-robin'] as const, defaultSettings.balance),
      user,
      accessLog,
      logFormat: oneOf('log-format', values['log-format'], ['common', 'combined', 'json'] as const, 'common'),
      errorLog: values['error-log'] ?? null,
      statusPath,
      statusAllow: ranges('status-allow', values['status-allow']),
      trustProxy,
      proxyProtocol: values['proxy-protocol'] === true,
      cacheControl:
        cacheControl === undefined ? defaultSettings.cacheControl : cacheControl === 'none' ? null : cacheControl,
      parser: oneOf<ParserKind>('parser', values.parser, ['wasm', 'native'], defaultSettings.parser),
      quiet: values.quiet === true,
      trace: values.trace === true || values['trace-format'] !== undefined,
      traceFormat: oneOf('trace-format', values['trace-format'], ['text', 'json'] as const, 'text'),
      traceBytes: count('trace-bytes', values['trace-bytes'], defaultSettings.traceBytes, 0),
      flow: values.flow === true,
      sendfile: values['no-sendfile'] !== true,
      dotfiles: values.dotfiles === true,
      cgiDirs,
      cgiExtensions: split(values['cgi-ext']).map((e) => (e.startsWith('.') ? e : `.${e}`)),
      cgiInterpreters: interpreters,
      cgiExplicitInterpreters: explicit,
      cgiUser,
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
  const there = existsSync(root);
  if (there && statSync(root).isDirectory()) return null;
  const what = there ? `'${root}' is not a folder` : `folder '${root}' not found`;
  return given || root !== '.' ? `${what}: give one with -d/--root` : what;
}
