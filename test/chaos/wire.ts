// Reading answers off a socket and checking every byte of them. An Inbox
// buffers what a connection receives (amortised growth, no O(n²) concatenation
// for 8 MiB bodies); `receive` reads one answer and compares it with the
// expectation: the head byte for byte against the reference (Date normalised,
// nothing else), the body against the known truth, the framing exactly
// (Content-Length, or strict chunked with no extension and no trailer, or to EOF).

import type { Socket } from 'node:net';
import type { Expectation } from './requests';

const CRLF = Buffer.from('\r\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const DATE = Buffer.from('\r\nDate: ');
export const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
const MAX_HEAD = 64 * 1024;

export class Inbox {
  #buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  #start = 0;
  #end = 0;
  received = 0;
  ended = false;
  error: string | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => this.#push(d));
    socket.on('end', () => this.#finish(null));
    socket.on('close', () => this.#finish(null));
    socket.on('error', (err: NodeJS.ErrnoException) => this.#finish(err.code ?? err.message));
  }

  #push(d: Buffer): void {
    if (this.#end + d.length > this.#buf.length) {
      const live = this.#end - this.#start;
      const target =
        live + d.length > this.#buf.length
          ? Buffer.allocUnsafe(Math.max(this.#buf.length * 2, live + d.length))
          : this.#buf;
      this.#buf.copy(target, 0, this.#start, this.#end);
      this.#buf = target;
      this.#start = 0;
      this.#end = live;
    }
    d.copy(this.#buf, this.#end);
    this.#end += d.length;
    this.received += d.length;
    this.#notify();
  }

  #finish(error: string | null): void {
    if (error !== null) this.error ??= error;
    this.ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  get available(): number {
    return this.#end - this.#start;
  }

  /** Ended, reset or failed: no more bytes will come. */
  get done(): boolean {
    return this.ended || this.error !== null;
  }

  /** A copy of the next `n` unread bytes, consumed. */
  take(n: number): Buffer {
    const k = Math.min(n, this.available);
    const out = Buffer.from(this.#buf.subarray(this.#start, this.#start + k));
    this.#start += k;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return out;
  }

  indexOf(needle: Buffer, from: number): number {
    return this.#buf.subarray(this.#start, this.#end).indexOf(needle, from);
  }

  /** Until the next event or the deadline; false once the deadline has passed. */
  wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    if (this.done) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve(false);
      }, left);
      this.#wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  async need(n: number, deadline: number): Promise<boolean> {
    while (this.available < n) {
      if (this.done || !(await this.wait(deadline))) return false;
    }
    return true;
  }

  async toEnd(deadline: number): Promise<boolean> {
    while (!this.done) if (!(await this.wait(deadline))) return false;
    return true;
  }
}

/** The Date header's value replaced by `<date>` (first one, in the first 8 KiB). */
export function normaliseDate(b: Buffer): Buffer {
  const i = b.subarray(0, 8192).indexOf(DATE);
  if (i < 0) return b;
  const e = b.indexOf(CRLF, i + DATE.length);
  if (e < 0) return b;
  return Buffer.concat([b.subarray(0, i + DATE.length), Buffer.from('<date>'), b.subarray(e)]);
}

/** Bytes of `expected` not received as expected (mismatched or missing) plus extra bytes; first bad offset. */
export function diffBytes(expected: Buffer, got: Buffer): { wrong: number; first: number } {
  if (expected.equals(got)) return { wrong: 0, first: -1 };
  const n = Math.min(expected.length, got.length);
  let wrong = Math.abs(expected.length - got.length);
  let first = n;
  for (let i = 0; i < n; i++) {
    if (expected[i] !== got[i]) {
      wrong++;
      if (first === n) first = i;
    }
  }
  return { wrong, first };
}

export function excerpt(b: Buffer, at: number, width = 48): string {
  const from = Math.max(0, at - 8);
  const text = JSON.stringify(b.subarray(from, from + width).toString('latin1'));
  return `${from > 0 ? '…' : ''}${text}${from + width < b.length ? '…' : ''}`;
}

export type Framing = 'length' | 'chunked' | 'none' | 'close';

/** What the server answered to a key at start, Date normalised. */
export interface Ref {
  framing: Framing;
  status: number;
  /** Head bytes up to and including the empty line (not for 'close'). */
  head: Buffer;
  /** For 'close': every byte before the program's output (porta's head; empty for nph-). */
  prefix: Buffer;
  /** The body, for keys whose truth is 'learn'. */
  body: Buffer;
}

export interface Check {
  ok: boolean;
  /** Bytes compared. */
  bytes: number;
  wrongBytes: number;
  /** The answer stopped short (EOF, reset or stall) with every byte received right. */
  cut: boolean;
  problem: string;
  learned: Ref | null;
}

function bad(problem: string, wrongBytes: number, bytes: number, cut = false): Check {
  return { ok: false, bytes, wrongBytes: Math.max(1, wrongBytes), cut, problem, learned: null };
}

function shortBy(inbox: Inbox, deadline: number): string {
  if (inbox.error !== null) return `connection error ${inbox.error}`;
  if (inbox.ended) return 'connection closed';
  return Date.now() >= deadline ? 'stalled (deadline passed)' : 'stopped';
}

/** Compare `got` with `expected`; `complete` is null when the answer ended properly, else why it did not. */
function compare(what: string, expected: Buffer, got: Buffer, complete: string | null, base: number): Check {
  const d = diffBytes(expected, got);
  if (d.wrong === 0 && complete === null)
    return { ok: true, bytes: base + got.length, wrongBytes: 0, cut: false, problem: '', learned: null };
  const prefix = got.length <= expected.length && expected.subarray(0, got.length).equals(got);
  if (prefix && complete !== null) {
    // Every byte received was right; the rest never came (or the framing's end did not).
    return bad(
      `${complete} after ${got.length} of ${expected.length} ${what} bytes`,
      expected.length - got.length,
      base + got.length,
      true,
    );
  }
  const then = complete === null ? '' : ` (then ${complete})`;
  return bad(
    `${what} differs at byte ${d.first} (${got.length} bytes, ${expected.length} expected): expected ${excerpt(expected, d.first)} got ${excerpt(got, d.first)}${then}`,
    d.wrong,
    base + got.length,
  );
}

async function readChunked(
  inbox: Inbox,
  deadline: number,
): Promise<{ body: Buffer; problem: string | null; cut: boolean }> {
  const parts: Buffer[] = [];
  const fail = (problem: string, cut: boolean) => ({ body: Buffer.concat(parts), problem, cut });
  for (;;) {
    let lf = inbox.indexOf(CRLF, 0);
    while (lf < 0) {
      if (inbox.available > 32) return fail(`bad chunk size line ${excerpt(inbox.take(32), 0)}`, false);
      if (!(await inbox.need(inbox.available + 1, deadline)))
        return fail(`${shortBy(inbox, deadline)} in a chunk size line`, true);
      lf = inbox.indexOf(CRLF, 0);
    }
    const line = inbox.take(lf + 2).toString('latin1', 0, lf);
    if (!/^[0-9a-fA-F]{1,15}$/.test(line)) return fail(`bad chunk size line ${JSON.stringify(line)}`, false);
    const size = Number.parseInt(line, 16);
    if (size === 0) {
      if (!(await inbox.need(2, deadline))) return fail(`${shortBy(inbox, deadline)} before the last CRLF`, true);
      const end = inbox.take(2);
      if (!end.equals(CRLF)) return fail(`trailer or junk after the last chunk: ${excerpt(end, 0)}`, false);
      return { body: Buffer.concat(parts), problem: null, cut: false };
    }
    if (!(await inbox.need(size + 2, deadline))) {
      parts.push(inbox.take(size));
      return fail(`${shortBy(inbox, deadline)} inside a ${size}-byte chunk`, true);
    }
    parts.push(inbox.take(size));
    if (!inbox.take(2).equals(CRLF)) return fail('chunk data not followed by CRLF', false);
  }
}

function headerValue(head: string, name: string): string | undefined {
  const m = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(head);
  return m?.[1]?.trim();
}

/**
 * Read one answer. With `ref` null this fetches the reference (validating the body
 * against the truth and the status against the expected one) and returns it in
 * `learned`; otherwise every byte is checked against `ref` and the truth.
 */
export async function receive(inbox: Inbox, exp: Expectation, ref: Ref | null, deadline: number): Promise<Check> {
  if (exp.closeFramed) {
    const ended = await inbox.toEnd(deadline);
    const got = normaliseDate(inbox.take(inbox.available));
    // The close is the framing: an answer that ends early looks complete, so say it was cut.
    const full = exp.truth === 'learn' || ref === null ? 0 : ref.prefix.length + exp.truth.length;
    const complete = ended && got.length >= full && inbox.error === null ? null : shortBy(inbox, deadline);
    if (ref === null) {
      if (exp.truth === 'learn') throw new Error('close-framed answers have a known truth');
      if (complete !== null) return bad(`reference: ${complete}`, 1, got.length);
      const start = got.length - exp.truth.length;
      if (start < 0 || !got.subarray(start).equals(exp.truth)) {
        return bad(
          `reference: the answer does not end with the program's output: ${excerpt(got, Math.max(0, start))}`,
          1,
          got.length,
        );
      }
      const learned: Ref = {
        framing: 'close',
        status: 200,
        head: Buffer.alloc(0),
        prefix: got.subarray(0, start),
        body: Buffer.alloc(0),
      };
      return { ok: true, bytes: got.length, wrongBytes: 0, cut: false, problem: '', learned };
    }
    if (exp.truth === 'learn') throw new Error('close-framed answers have a known truth');
    return compare('answer', Buffer.concat([ref.prefix, exp.truth]), got, complete, 0);
  }

  let scan = 0;
  let end = inbox.indexOf(CRLF2, 0);
  while (end < 0) {
    if (inbox.available > MAX_HEAD)
      return bad(`no end of head in ${MAX_HEAD} bytes: ${excerpt(inbox.take(64), 0)}`, 1, 0);
    scan = Math.max(0, inbox.available - 3);
    if (!(await inbox.need(inbox.available + 1, deadline))) {
      const got = inbox.take(inbox.available);
      if (ref === null) return bad(`reference: ${shortBy(inbox, deadline)} in the head`, 1, got.length);
      return compare('head', ref.head, normaliseDate(got), shortBy(inbox, deadline), 0);
    }
    end = inbox.indexOf(CRLF2, scan);
  }
  const head = normaliseDate(inbox.take(end + 4));

  let framing: Framing;
  let length = 0;
  let learnedStatus = exp.status;
  if (ref !== null) {
    const d = diffBytes(ref.head, head);
    if (d.wrong > 0) {
      return bad(
        `head differs at byte ${d.first}: expected ${excerpt(ref.head, d.first, 96)} got ${excerpt(head, d.first, 96)}`,
        d.wrong,
        head.length,
      );
    }
    framing = ref.framing;
  } else {
    const text = head.toString('latin1');
    learnedStatus = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1] ?? 0);
    if (learnedStatus !== exp.status) {
      return bad(
        `reference: status ${learnedStatus}, expected ${exp.status}: ${excerpt(head, 0, 120)}`,
        1,
        head.length,
      );
    }
    const cl = headerValue(text, 'content-length');
    if (exp.isHead || learnedStatus === 304 || learnedStatus === 204) framing = 'none';
    else if (headerValue(text, 'transfer-encoding')?.toLowerCase() === 'chunked') framing = 'chunked';
    else if (cl !== undefined && /^\d+$/.test(cl)) {
      framing = 'length';
      length = Number(cl);
    } else return bad(`reference: no framing in ${excerpt(head, 0, 200)}`, 1, head.length);
  }
  const expected = exp.truth === 'learn' ? ref?.body : exp.truth;

  let body: Buffer;
  if (framing === 'none') body = Buffer.alloc(0);
  else if (framing === 'length') {
    const n = ref === null ? length : (expected?.length ?? 0);
    const complete = await inbox.need(n, deadline);
    body = inbox.take(n);
    if (!complete) {
      if (expected === undefined) return bad(`reference: ${shortBy(inbox, deadline)} in the body`, 1, head.length);
      return compare('body', expected, body, shortBy(inbox, deadline), head.length);
    }
  } else {
    const r = await readChunked(inbox, deadline);
    body = r.body;
    if (r.problem !== null) {
      if (expected === undefined) return bad(`reference: ${r.problem}`, 1, head.length);
      const c = compare('body', expected, body, r.problem, head.length);
      return { ...c, cut: r.cut && c.cut };
    }
  }
  if (expected !== undefined) {
    const c = compare('body', expected, body, null, head.length);
    if (!c.ok) return ref === null ? { ...c, problem: `reference: ${c.problem}` } : c;
  }
  const learned: Ref | null =
    ref === null
      ? {
          framing,
          status: learnedStatus,
          head,
          prefix: Buffer.alloc(0),
          body: expected === undefined ? body : Buffer.alloc(0),
        }
      : null;
  return { ok: true, bytes: head.length + body.length, wrongBytes: 0, cut: false, problem: '', learned };
}

/** The interim `100 Continue` an Expect: 100-continue request waits for. */
export async function receiveContinue(inbox: Inbox, deadline: number): Promise<Check> {
  const complete = await inbox.need(CONTINUE.length, deadline);
  return compare('100 Continue', CONTINUE, inbox.take(CONTINUE.length), complete ? null : shortBy(inbox, deadline), 0);
}
