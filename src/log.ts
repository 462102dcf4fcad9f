// The access log and the error log. The access log is one line per answer, in
// the Common or Combined Log Format (with the request's time in µs and, for
// CGI, the program's) or as JSON lines, batched so a busy server makes one
// write per tick; to stdout or a file (--access-log). The error log goes
// unbuffered to stderr or a file (--error-log). reopen() (SIGUSR1, logrotate's
// postrotate) closes and reopens the files, as nginx does.

import { createWriteStream, openSync, type WriteStream } from 'node:fs';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const FLUSH_AT = 16 * 1024;

let stampSecond = -1;
let stamp = '';
function clfTime(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    const d = new Date(second * 1000);
    const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
    stamp =
      `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  }
  return stamp;
}

/** What the access log needs of a request (src/http/request.ts has it). */
export interface LoggedRequest {
  readonly method: string;
  readonly target: string;
  readonly protocol: string;
  /** performance.now() when its head arrived. */
  readonly startedAt: number;
  header(name: string): string | undefined;
}

/** One answer, as the access log records it. */
export interface AccessEntry {
  /** The client's address (the peer's, or what a trusted proxy said). */
  client: string;
  /** null when no request line was understood. */
  request: LoggedRequest | null;
  status: number;
  /** Body bytes sent; null when porta does not know (a socket-mode program wrote them itself). */
  bytes: number | null;
  /** How long a CGI program took, in µs; null for no program. */
  upstreamUs: number | null;
}

export type LogFormat = 'common' | 'combined' | 'json';

/** Where the two logs go. Tests use a buffer, shown only when a test fails. */
export interface LogSink {
  access(text: string): void;
  error(text: string): void;
  /** Close and reopen files (logrotate moved them away). */
  reopen?(): void;
  /** Everything written reaches the files (before the process exits). */
  close?(): Promise<void>;
}

/**
 * stdout and stderr are pipes or terminals someone else holds. When their
 * reader goes (`porta | head`, a journal restarting), a write fails with EPIPE
 * as an 'error' event on the stream, and an 'error' nobody hears ends the
 * process: every client for a log line. Only the log is lost: the first
 * failure is said on the other stream while it still works, later lines go
 * nowhere. Installed once per process, by cli.ts, before anything is logged.
 */
export function keepStdioFaultsLocal(): void {
  const guard = (stream: NodeJS.WriteStream, name: string, other: NodeJS.WriteStream): void => {
    let said = false;
    stream.on('error', (err: Error) => {
      if (said) return;
      said = true;
      if (!other.destroyed && !other.writableEnded)
        other.write(`porta: ${name}: ${err.message}; its lines are dropped\n`);
    });
  };
  guard(process.stdout, 'stdout', process.stderr);
  guard(process.stderr, 'stderr', process.stdout);
}

export const PROCESS_SINK: LogSink = {
  access: (text) => void process.stdout.write(text),
  error: (text) => void process.stderr.write(text),
};

/**
 * A log file, appended to. A write that fails (a full disk, the folder
 * removed) must not take the server down, nor silence the log for good: the
 * failure is said on stderr once, lines are dropped and counted, and the file
 * is opened afresh at the first line a second or more later (the disk may
 * have room again), with a word on stderr of how many lines were lost.
 */
class LogFile {
  readonly #path: string;
  #stream: WriteStream;
  /** Since when (Date.now()) lines are dropped; 0: the file takes them. */
  #failedAt = 0;
  #dropped = 0;

  /** Opened now: a missing folder is a start-up error, said once. */
  constructor(path: string) {
    this.#path = path;
    this.#stream = this.#open();
  }

  write(text: string): void {
    if (this.#failedAt !== 0 && !this.#retry()) {
      this.#dropped++;
      return;
    }
    this.#stream.write(text);
  }

  /** SIGUSR1 (logrotate moved the file away): a new file by the same name; if it cannot be opened, the old one stays. */
  reopen(): void {
    try {
      const fresh = this.#open();
      this.#stream.end();
      this.#stream = fresh;
      this.#resumed();
    } catch (err) {
      process.stderr.write(`porta: cannot reopen log ${this.#path}: ${(err as Error).message}\n`);
    }
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.#stream.end(resolve));
  }

  /** O_APPEND, so workers' lines interleave whole. */
  #open(): WriteStream {
    const fd = openSync(this.#path, 'a', 0o640);
    const stream = createWriteStream(this.#path, { fd });
    stream.on('error', (err) => {
      if (stream !== this.#stream || this.#failedAt !== 0) return; // a stream replaced, or already failing
      this.#failedAt = Date.now();
      process.stderr.write(`porta: log ${this.#path}: ${err.message}; lines are dropped until it can be written\n`);
    });
    return stream;
  }

  #retry(): boolean {
    if (Date.now() - this.#failedAt < RETRY_MS) return false;
    try {
      this.#stream.destroy();
      this.#stream = this.#open();
    } catch {
      this.#failedAt = Date.now(); // still cannot be opened: again a second later
      return false;
    }
    this.#resumed();
    return true;
  }

  #resumed(): void {
    if (this.#failedAt === 0) return;
    process.stderr.write(`porta: log ${this.#path}: written again; ${this.#dropped} lines were dropped\n`);
    this.#failedAt = 0;
    this.#dropped = 0;
  }
}

/** How long a failed log file rests before porta opens it again. */
const RETRY_MS = 1000;

/** stdout/stderr, or files opened for appending and reopened on demand. */
export function fileSink(accessPath: string | null, errorPath: string | null): LogSink {
  const access = accessPath === null || accessPath === '-' ? null : new LogFile(accessPath);
  const error = errorPath === null ? null : new LogFile(errorPath);
  return {
    access: (text) => void (access === null ? process.stdout.write(text) : access.write(text)),
    error: (text) => void (error === null ? process.stderr.write(text) : error.write(text)),
    reopen: () => {
      access?.reopen();
      error?.reopen();
    },
    // File writes are asynchronous: process.exit() right after the last one
    // would lose it. (stdout and stderr, as pipes or files, write synchronously.)
    close: () => Promise.all([access?.close(), error?.close()]).then(() => undefined),
  };
}

/**
 * A field for a quoted CLF field: quotes, backslashes, control bytes and every
 * byte past ASCII escaped as \xhh, as Apache and nginx do. Header values are
 * bytes read as latin1; written out as they are, the log's UTF-8 would turn a
 * byte 0xE9 into "é" and a client's UTF-8 "é" into "Ã©": a line must say what
 * was sent, in ASCII.
 */
function quotable(text: string): string {
  return text.replace(/["\\\x00-\x1f\x7f-\uffff]/g, (c) => {
    const code = c.charCodeAt(0);
    // Beyond latin1 (not from a parser, which reads bytes): its UTF-8 bytes.
    const bytes = code <= 0xff ? [code] : [...Buffer.from(c, 'utf8')];
    return bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  });
}

/**
 * A request's bytes (read as latin1) for a JSON string: UTF-8 as the text it
 * is (a client's "é" logged as "é", not as the two characters its bytes
 * would be in latin1); bytes that are not UTF-8 escaped as \xhh, as the CLF
 * line escapes them.
 */
function jsonText(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!/[\x80-\xff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : quotable(value);
}

export class Log {
  readonly #enabled: boolean;
  readonly #format: LogFormat;
  readonly #sink: LogSink;
  /** Error lines as JSON objects: they share stderr with --trace-format json, whose readers expect JSON lines. */
  readonly #jsonErrors: boolean;
  #buffer = '';
  #scheduled = false;
  /** Answers logged (or that would have been, with the log off): the status page's count. */
  answers = 0;

  constructor(enabled: boolean, format: LogFormat = 'common', sink: LogSink = PROCESS_SINK, jsonErrors = false) {
    this.#enabled = enabled;
    this.#format = format;
    this.#sink = sink;
    this.#jsonErrors = jsonErrors;
  }

  /** Is an access line wanted? (The connection builds none when it is not.) */
  get enabled(): boolean {
    return this.#enabled;
  }

  access(entry: AccessEntry): void {
    this.answers++;
    if (!this.#enabled) return;
    this.#buffer += this.#line(entry);
    if (this.#buffer.length >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  #line({ client, request, status, bytes, upstreamUs }: AccessEntry): string {
    const requestUs = request === null ? 0 : Math.round((performance.now() - request.startedAt) * 1000);
    if (this.#format === 'json') {
      return `${JSON.stringify({
        time: new Date().toISOString(),
        client,
        method: request?.method ?? null,
        target: jsonText(request?.target),
        protocol: request?.protocol ?? null,
        status,
        bytes,
        request_us: requestUs,
        upstream_us: upstreamUs,
        referer: jsonText(request?.header('referer')),
        user_agent: jsonText(request?.header('user-agent')),
      })}\n`;
    }
    const requestLine = request === null ? '-' : quotable(`${request.method} ${request.target} ${request.protocol}`);
    let line = `${client} - - [${clfTime()}] "${requestLine}" ${status} ${bytes === 0 || bytes === null ? '-' : bytes}`;
    if (this.#format === 'combined') {
      line += ` "${quotable(request?.header('referer') ?? '-')}" "${quotable(request?.header('user-agent') ?? '-')}"`;
    }
    return `${line} ${requestUs} ${upstreamUs === null ? '-' : upstreamUs}\n`;
  }

  error(message: string): void {
    const time = new Date().toISOString();
    this.#sink.error(this.#jsonErrors ? `${JSON.stringify({ time, error: message })}\n` : `[${time}] ${message}\n`);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#buffer === '') return;
    const out = this.#buffer;
    this.#buffer = '';
    this.#sink.access(out);
  }

  reopen(): void {
    this.flush();
    this.#sink.reopen?.();
  }

  /** The last lines written out, the files closed. */
  close(): Promise<void> {
    this.flush();
    return this.#sink.close?.() ?? Promise.resolve();
  }
}
