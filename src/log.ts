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
    stamp = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  }
  return stamp;
}

export interface AccessEntry {
  remoteAddress: string;
  /** `METHOD target HTTP/x.y`, or '-' when no request line was understood. */
  requestLine: string;
  status: number;
  bytes: number;
  durationMs: number;
}

export class Log {
  readonly #quiet: boolean;
  #buffer = '';
  #scheduled = false;

  constructor(quiet: boolean) {
    this.#quiet = quiet;
  }

  access(entry: AccessEntry): void {
    if (this.#quiet) return;
    // CLF quotes the request line; a quote or control byte in it must not break the format.
    const line = entry.requestLine.replace(/["\\\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
    this.#buffer += `${entry.remoteAddress} - - [${clfTime()}] "${line}" ${entry.status} ` +
      `${entry.bytes === 0 ? '-' : entry.bytes} ${entry.durationMs.toFixed(3)}\n`;
    if (this.#buffer.length >= FLUSH_AT) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  error(message: string): void {
    process.stderr.write(`[${new Date().toISOString()}] ${message}\n`);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#buffer === '') return;
    const out = this.#buffer;
    this.#buffer = '';
    process.stdout.write(out);
  }
}
