// The access log (Common Log Format plus the response time in ms) on stdout,
// batched so a busy server makes one write per tick, not one per request; and
// the error log, unbuffered, on stderr.

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
    const pad = (n: number) => (n < 10 ? '0' + n : String(n));
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
}

/** Where the two logs go: stdout and stderr, or (tests) a buffer shown only when a test fails. */
export interface LogSink {
  access(text: string): void;
  error(text: string): void;
}

export const PROCESS_SINK: LogSink = {
  access: (text) => void process.stdout.write(text),
  error: (text) => void process.stderr.write(text),
};

export class Log {
  readonly #quiet: boolean;
  readonly #sink: LogSink;
  #buffer = '';
  #scheduled = false;

  constructor(quiet: boolean, sink: LogSink = PROCESS_SINK) {
    this.#quiet = quiet;
    this.#sink = sink;
  }

  /** One CLF line, plus the response time in ms; `request` null when no request line was understood. */
  access(remoteAddress: string, request: LoggedRequest | null, status: number, bytes: number): void {
    if (this.#quiet) return;
    const requestLine = request === null ? '-' : `${request.method} ${request.target} ${request.protocol}`;
    const durationMs = request === null ? 0 : performance.now() - request.startedAt;
    // CLF quotes the request line; a quote or control byte in it must not break the format.
    const line = requestLine.replace(
      /["\\\x00-\x1f\x7f]/g,
      (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'),
    );
    this.#buffer +=
      `${remoteAddress} - - [${clfTime()}] "${line}" ${status} ` +
      `${bytes === 0 ? '-' : bytes} ${durationMs.toFixed(3)}\n`;
    if (this.#buffer.length >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  error(message: string): void {
    this.#sink.error(`[${new Date().toISOString()}] ${message}\n`);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#buffer === '') return;
    const out = this.#buffer;
    this.#buffer = '';
    this.#sink.access(out);
  }
}
