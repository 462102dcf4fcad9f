// Every setting porta has, in one plain struct, and every limit in one object
// (lighttpd keeps its cgi_limits the same way). cli.ts fills these from flags.

import { existsSync } from 'node:fs';
import type { ParserKind } from './http/parser';

export interface Limits {
  /** URL + header names + values (+ trailers) per request; over it → 431. */
  maxHeaderSize: number;
  /** Request-target length; longer → 414 (nginx's default buffer is 8 KiB too). */
  maxUrlLength: number;
  /** Request body bytes, declared or received; over it → 413. */
  maxBodySize: number;
  /** Whole request head must arrive within this (ms); else 408 and close. */
  headerTimeoutMs: number;
  /** Longest gap between two body reads (ms); else 408 and close. */
  bodyTimeoutMs: number;
  /** An idle persistent connection is closed after this (ms). */
  keepAliveTimeoutMs: number;
  /** A response that makes no write progress for this long is abandoned (ms). */
  sendTimeoutMs: number;
  /** A closing connection waits this long for the peer's FIN, discarding input (RFC 9112 §9.6). */
  lingerMs: number;
  /** Requests answered on one connection before it is closed. */
  maxRequestsPerConnection: number;
  /** Simultaneous connections; past it new ones are closed at once. */
  maxConnections: number;
  /** A CGI program is killed (TERM, then KILL) after this (ms). */
  cgiTimeoutMs: number;
  /** Grace between SIGTERM and SIGKILL (ms). */
  cgiKillGraceMs: number;
  /** CGI programs running at once. */
  cgiMaxRunning: number;
  /** CGI requests waiting for a slot; past it → 503. */
  cgiMaxQueued: number;
  /** How long a queued CGI request may wait for a slot (ms) before 503. */
  cgiQueueTimeoutMs: number;
  /** A CGI response header block larger than this → 502. */
  cgiMaxHeaderSize: number;
  /** Chunked request bodies for CGI are held in memory up to this, then in a temp file. */
  cgiBodyMemory: number;
  /** stderr bytes logged per CGI run; the rest is counted and dropped. */
  cgiMaxStderr: number;
  /** Local redirects (Location: /path) followed per request (RFC 3875 §6.2.2). */
  cgiMaxLocalRedirects: number;
  /**
   * Niceness added to CGI programs (0-19) over porta's own. One event loop
   * serves every client; a program serves one: at equal weight, 16 busy
   * python3 programs held it off the CPU for milliseconds at a time (a spawn
   * call p90 8.8 ms, static files beside them 620-720 req/s with p99 25-63
   * ms). At 10: 15-18k req/s, p99 8-9 ms; programs alone ran 0-3 % slower.
   */
  cgiNice: number;
  /** Files up to this size may be kept in memory by the static cache. */
  staticCacheFileSize: number;
  /** Total bytes the static cache may hold. */
  staticCacheBytes: number;
  /**
   * Bytes read from disk at a time for a streamed file. A slow client holds at
   * most about two of these (one read, one queued on the socket).
   */
  staticReadChunk: number;
  /**
   * Bodies this long or longer (and too big for the cache) go out with
   * sendfile(2) on plain-text connections (--no-sendfile: never); shorter
   * ones stream.
   */
  staticSendfileMin: number;
  /** How long a stat() result is trusted (ms). */
  statCacheMs: number;
  /**
   * SIGTERM/SIGINT (and old workers after SIGHUP): how long answers in flight
   * may take to finish before programs are stopped and connections cut (ms).
   */
  graceMs: number;
}

export const defaultLimits: Limits = {
  maxHeaderSize: 16 * 1024,
  maxUrlLength: 8 * 1024,
  maxBodySize: 64 * 1024 * 1024,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  sendTimeoutMs: 60_000,
  lingerMs: 2_000,
  maxRequestsPerConnection: 100_000,
  maxConnections: 20_000,
  cgiTimeoutMs: 30_000,
  cgiKillGraceMs: 2_000,
  cgiMaxRunning: 64,
  cgiMaxQueued: 256,
  cgiQueueTimeoutMs: 10_000,
  cgiMaxHeaderSize: 16 * 1024,
  cgiBodyMemory: 1024 * 1024,
  cgiMaxStderr: 64 * 1024,
  cgiMaxLocalRedirects: 5,
  cgiNice: 10,
  staticCacheFileSize: 64 * 1024,
  staticCacheBytes: 32 * 1024 * 1024,
  // 512 KiB: fewer syscalls and loop turns per MiB; W3 measured 0.85× nginx at
  // 256 KiB and 1.14× at 512 KiB in the same runs.
  staticReadChunk: 512 * 1024,
  staticSendfileMin: 64 * 1024,
  statCacheMs: 1_000,
  graceMs: 10_000,
};

export type CgiStdoutMode = 'socket' | 'pipe';
/** How programs are started: the spawn addon (vfork) when built, else child_process. */
export type CgiSpawnMethod = 'auto' | 'addon' | 'child_process';

/** HTTPS: the certificate chain and key (PEM files), and the key's passphrase file if any. */
export interface TlsFiles {
  cert: string;
  key: string;
  passwordFile: string | null;
}

/** The HTTP version porta answers with: 1.0 closes after every response (Python's default). */
export type ProtocolVersion = '1.0' | '1.1';

export interface Settings {
  root: string;
  /**
   * Addresses to listen on, each with its own listener. Loopback (127.0.0.1
   * and ::1) unless told otherwise: CGI runs by default, and a folder's
   * cgi-bin/ is never run for the whole network by accident.
   */
  hosts: string[];
  port: number;
  /** HTTPS instead of HTTP on every listener. */
  tls: TlsFiles | null;
  protocol: ProtocolVersion;
  /** Run programs at all (--no-cgi: a pure static server, like python -m http.server without --cgi). */
  cgi: boolean;
  /** Cache-Control on static answers; null for none. 'no-cache': revalidate every time (cheap 304s). */
  cacheControl: string | null;
  /**
   * Listening sockets inherited from a supervisor (systemd's LISTEN_FDS), as
   * fd numbers: served instead of binding `hosts`.
   */
  listenFds: number[];
  /** Processes serving requests: 1 is porta alone; more run under a primary (node:cluster). */
  workers: number;
  /** How connections reach workers: 'shared' (each accepts from the socket) or 'round-robin' (the primary deals them). */
  balance: 'shared' | 'round-robin';
  /** Run the serving processes as this user once the sockets are bound (porta started as root). */
  user: string | null;
  /** The access log: '-' for stdout, a file path, or null for none (--quiet). */
  accessLog: string | null;
  logFormat: 'common' | 'combined' | 'json';
  /** The error log: a file path, or null for stderr. */
  errorLog: string | null;
  /** Where the status page answers (off when null), and who may ask besides loopback. */
  statusPath: string | null;
  statusAllow: string[];
  /** Peers (CIDRs) whose X-Forwarded-For / Forwarded / PROXY header says who the client is. */
  trustProxy: string[];
  /** Every connection starts with a PROXY protocol header (v1 or v2), from a trusted peer. */
  proxyProtocol: boolean;
  parser: ParserKind;
  quiet: boolean;
  /** One stderr line per connection event (states, parser events, answers). */
  trace: boolean;
  /** --trace-format: text lines, or JSON lines for tools. */
  traceFormat: 'text' | 'json';
  /** --trace-bytes: bytes of a read or a head shown. */
  traceBytes: number;
  /** --flow: the live flow page at /.porta/flow (loopback clients only, unless --status-allow names more). */
  flow: boolean;
  /** Large static bodies by sendfile(2) when the addon is built (--no-sendfile: always streamed through Node). */
  sendfile: boolean;
  /** Serve files whose name starts with a dot. Off: they are 404, as if absent. */
  dotfiles: boolean;
  /** URL path prefixes whose files run as CGI programs. */
  cgiDirs: string[];
  /** File extensions that run as CGI anywhere under the root (Apache's AddHandler). */
  cgiExtensions: string[];
  /** Extension → interpreter program (for scripts with their execute bit). */
  cgiInterpreters: Record<string, string>;
  /** Extensions mapped with --cgi-interpreter: run through it even without the execute bit. */
  cgiExplicitInterpreters: string[];
  /**
   * Who programs run as when porta is root: a user name or uid[:gid]; null
   * means `nobody`. 'root' must be asked for. Ignored when porta is not root.
   */
  cgiUser: string | null;
  cgiStdout: CgiStdoutMode;
  cgiSpawn: CgiSpawnMethod;
  /** Names of server environment variables passed on to CGI programs. */
  cgiPassEnv: string[];
  limits: Limits;
}

export const LOOPBACK = ['127.0.0.1', '::1'];

export const defaultSettings: Settings = {
  root: 'html',
  hosts: LOOPBACK,
  port: 8080,
  tls: null,
  protocol: '1.1',
  cgi: true,
  cacheControl: 'no-cache',
  listenFds: [],
  workers: 1,
  balance: 'shared',
  user: null,
  accessLog: '-',
  logFormat: 'common',
  errorLog: null,
  statusPath: null,
  statusAllow: [],
  trustProxy: [],
  proxyProtocol: false,
  parser: 'wasm',
  quiet: false,
  trace: false,
  traceFormat: 'text',
  traceBytes: 256,
  flow: false,
  sendfile: true,
  dotfiles: false,
  cgiDirs: ['/cgi-bin', '/htbin'],
  cgiExtensions: [],
  cgiInterpreters: {
    // The system interpreter works for any user; a pyenv shim first on PATH is
    // per-user and costs ~0.4 s a start here.
    '.py': existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
    '.pl': 'perl',
    '.rb': 'ruby',
    '.php': 'php-cgi',
    '.sh': 'sh',
  },
  cgiExplicitInterpreters: [],
  cgiUser: null,
  cgiStdout: 'socket',
  cgiSpawn: 'auto',
  cgiPassEnv: [
    'PATH',
    'LANG',
    'LC_ALL',
    'LC_CTYPE',
    'TZ',
    'TMPDIR',
    'SYSTEMROOT',
    'LD_LIBRARY_PATH',
    'PYTHONPATH',
    'PYTHONIOENCODING',
  ],
  limits: defaultLimits,
};
