// What the fake CGI program says: a header block built from fields valid and
// not (lying, repeated and non-numeric Content-Length, Status good and bad,
// Location local and absolute, X-Sendfile, framing fields porta must drop,
// bad names, CR/NUL/control bytes in values, LF or CRLF, a missing blank
// line, a block over the limit, or nothing at all), a body, the writes it is
// cut into, and how the program ends. Plus the request that runs it.

import type { Rng } from '../chaos/rng';
import type { ProgramPlan } from './cgi-program';

export interface CgiInput {
  plan: ProgramPlan;
  request: Buffer;
  /** Requests in `request`: the program's, then maybe a pipelined GET /hello.txt. */
  requests: number;
  /** The program's request is a HEAD. */
  head: boolean;
  /** Reads of `request` (sizes). */
  reads: number[];
  fin: 'now' | 'later' | 'never';
  slowReader: boolean;
  /** The client resets the connection after this many loop turns of the answer (null: never). */
  resetAfterTurns: number | null;
  highWaterMark: number;
  notes: string[];
}

export const PROGRAM_URL = '/cgi-bin/prog';

const STATUSES = [
  '200 OK',
  '201 Created',
  '204 No Content',
  '206 Partial',
  '301 Moved',
  '302 Found',
  '304 Not Modified',
  '400 Bad',
  '404 Not Found',
  '418 Teapot',
  '500 Oops',
  '503',
  '599 Odd',
  '100 Continue',
  '101 Switching',
  '199 Info',
  '103 Early Hints',
];
const BAD_STATUSES = ['abc', '2000', '', '200OK', '  404  Not Found ', '99', '600', '20', '+200', '200\tTab'];
const BAD_LENGTHS = ['12a', '-1', '', '0x10', '1e2', '1 2', '99999999999999999999', '1234567890123456', '+5', '5,5'];
const LOCATIONS = [
  '/hello.txt',
  PROGRAM_URL,
  'http://example.com/x',
  '//evil.example/',
  'relative/path',
  '/nope',
  '/files/',
  'mailto:a@b',
  'http://h/a b',
];
const BAD_LINES = [
  'Bad Name: v',
  ':v',
  'X\x00Y: v',
  '\xdcber: v',
  'X-A : v',
  'NoColon',
  ' X-Folded: v',
  'X-A: a\rb',
  'X-A: a\x00b',
  'X-A: \x7f',
  'X-A: \x01',
  'X-A: \x1b[0m',
  '\r',
];
const DROPPED = [
  'Transfer-Encoding: chunked',
  'Connection: keep-alive',
  'Connection: close',
  'Date: yesterday',
  'Server: evil',
  'Keep-Alive: 5',
  'Upgrade: h2c',
];
const FINE = [
  'X-Powered-By: fuzz',
  'Cache-Control: no-store',
  'Set-Cookie: a=b',
  'Set-Cookie: c=d',
  'X-Empty:',
  'X-Latin: caf\xe9',
  'X-Tab: a\tb',
  'Vary: *',
];

function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function body(rng: Rng): Buffer {
  const size = rng.weighted<number>([
    [0, 2],
    [rng.int(1, 64), 5],
    [rng.int(65, 4000), 3],
    [rng.int(40_000, 90_000), 1],
  ]);
  if (rng.chance(0.5)) return rng.bytes(size);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = 97 + (i % 26);
  return out;
}

function header(rng: Rng, bodyLength: number, root: string, notes: string[]): { lines: string[]; eol: () => string } {
  const lines: string[] = [];
  const add = (line: string, note?: string): void => {
    lines.push(line);
    if (note !== undefined) notes.push(note);
  };
  if (rng.chance(0.92))
    add(rng.pick(['Content-Type: text/plain', 'Content-type: text/html; charset=utf-8', 'CONTENT-TYPE: a/b']));
  if (rng.chance(0.25)) add(`Status: ${rng.chance(0.9) ? rng.pick(STATUSES) : rng.pick(BAD_STATUSES)}`, 'status');
  if (rng.chance(0.6)) {
    const length = rng.weighted<string>([
      [String(bodyLength), 6],
      [String(Math.max(0, bodyLength + rng.int(-20, 20))), 3],
      ['0', 1],
      [rng.pick(BAD_LENGTHS), 1],
    ]);
    add(`Content-Length: ${length}`, `Content-Length ${JSON.stringify(length)} for ${bodyLength}`);
    if (rng.chance(0.15)) {
      const again = rng.chance(0.5) ? length : String(bodyLength + 1);
      add(`content-length: ${again}`, `again ${JSON.stringify(again)}`);
    }
  }
  if (rng.chance(0.12)) add(`Location: ${rng.pick(LOCATIONS)}`, 'location');
  if (rng.chance(0.04))
    add(
      `X-Sendfile: ${rng.pick([`${root}/hello.txt`, `${root}/../etc/passwd`, '/nonexistent', `${root}/files`])}`,
      'sendfile',
    );
  if (rng.chance(0.15)) add(rng.pick(DROPPED));
  if (rng.chance(0.06)) add(rng.pick(BAD_LINES), 'bad line');
  const extra = rng.int(0, 3);
  for (let i = 0; i < extra; i++) add(rng.pick(FINE));
  if (rng.chance(0.03)) {
    const n = rng.int(100, 300);
    for (let i = 0; i < n; i++) add(`X-Many-${i}: ${'v'.repeat(20)}`);
    notes.push(`${n} more fields`);
  }
  // Shuffle: Status and Content-Length may come anywhere.
  for (let i = lines.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
  }
  const style = rng.weighted<string>([
    ['crlf', 4],
    ['lf', 4],
    ['mixed', 1],
  ]);
  const eol = (): string => (style === 'crlf' ? '\r\n' : style === 'lf' ? '\n' : rng.pick(['\r\n', '\n']));
  return { lines, eol };
}

function output(rng: Rng, root: string, notes: string[]): Buffer {
  if (rng.chance(0.03)) {
    notes.push('no output');
    return Buffer.alloc(0);
  }
  const payload = body(rng);
  const { lines, eol } = header(rng, payload.length, root, notes);
  let head = lines.map((l) => l + eol()).join('');
  const separator = rng.weighted<string>([
    ['blank', 40],
    ['none', 1],
    ['leading', 1],
    ['cr', 1],
  ]);
  if (separator === 'blank') head += eol();
  else if (separator === 'leading') head = eol() + head + eol();
  else if (separator === 'cr') head += '\r';
  if (separator !== 'blank') notes.push(`separator ${separator}`);
  notes.push(`body ${payload.length}`);
  return Buffer.concat([latin1(head), payload]);
}

function cut(rng: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length === 0) return [];
  const n = rng.weighted<number>([
    [1, 3],
    [rng.int(2, 6), 4],
    [rng.int(7, 40), 1],
  ]);
  const cuts = new Set<number>();
  for (let i = 1; i < n; i++) cuts.add(rng.int(1, bytes.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  const out: Buffer[] = [];
  for (let i = 1; i < points.length; i++) {
    const piece = bytes.subarray(points[i - 1] as number, points[i] as number);
    if (piece.length > 0) out.push(piece);
  }
  return out;
}

function request(rng: Rng, notes: string[]): { bytes: Buffer; requests: number; head: boolean } {
  const kind = rng.weighted<string>([
    ['get', 10],
    ['head', 2],
    ['get10', 2],
    ['post', 2],
    ['chunked', 1],
  ]);
  notes.push(`request ${kind}`);
  const query = rng.chance(0.2) ? '?a=1&b' : '';
  let first: string;
  switch (kind) {
    case 'head':
      first = `HEAD ${PROGRAM_URL}${query} HTTP/1.1\r\nHost: x\r\n\r\n`;
      break;
    case 'get10':
      first = `GET ${PROGRAM_URL}${query} HTTP/1.0\r\n${rng.chance(0.5) ? 'Connection: keep-alive\r\n' : ''}\r\n`;
      break;
    case 'post': {
      // Now and then more than a pipe holds, for a program that never reads it.
      const data = 'x'.repeat(rng.chance(0.2) ? rng.int(20_000, 100_000) : rng.int(0, 3000));
      const expect = rng.chance(0.3) ? 'Expect: 100-continue\r\n' : '';
      first = `POST ${PROGRAM_URL} HTTP/1.1\r\nHost: x\r\n${expect}Content-Length: ${data.length}\r\n\r\n${data}`;
      break;
    }
    case 'chunked':
      first = `POST ${PROGRAM_URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n`;
      break;
    default:
      first = `GET ${PROGRAM_URL}${query} HTTP/1.1\r\nHost: x\r\n\r\n`;
  }
  const pipelined = kind !== 'get10' && rng.chance(0.4);
  if (pipelined) notes.push('then GET /hello.txt');
  const text = pipelined ? `${first}GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n` : first;
  return { bytes: latin1(text), requests: pipelined ? 2 : 1, head: kind === 'head' };
}

export function generateCgiInput(rng: Rng, root: string): CgiInput {
  const notes: string[] = [];
  const out = output(rng, root, notes);
  const writes = cut(rng, out);
  const ending = rng.weighted<ProgramPlan['ending']>([
    ['eofThenExit', 5],
    ['exitThenEof', 5],
    ['grandchild', 1],
    ['hang', 1],
  ]);
  const exit = rng.weighted<ProgramPlan['exit']>([
    [{ code: 0, signal: null }, 8],
    [{ code: rng.int(1, 255), signal: null }, 2],
    [{ code: null, signal: rng.pick<NodeJS.Signals>(['SIGSEGV', 'SIGKILL', 'SIGTERM', 'SIGPIPE', 'SIGABRT']) }, 1],
  ]);
  const plan: ProgramPlan = {
    writes,
    stopAfter: writes.length > 0 && rng.chance(0.08) ? rng.int(0, writes.length - 1) : null,
    stderr: rng.chance(0.2)
      ? writes.map((_, i) => latin1(`line ${i}\n${rng.chance(0.1) ? 'x'.repeat(2000) : ''}`))
      : [],
    ending,
    exit,
    onTerm: rng.pick(['die', 'die', 'ignore', 'exit0'] as const),
    readsStdin: rng.chance(0.7),
    launchFails: rng.chance(0.01),
    pauses: Array.from({ length: rng.int(1, 8) }, () => rng.chance(0.5)),
  };
  notes.push(`${writes.length} writes, ${ending}, exit ${JSON.stringify(exit)}, on TERM ${plan.onTerm}`);
  if (plan.stopAfter !== null) notes.push(`stops after ${plan.stopAfter} writes`);
  if (plan.launchFails) notes.push('launch fails');
  const req = request(rng, notes);
  const reads = rng.chance(0.7) ? [req.bytes.length] : cut(rng, req.bytes).map((b) => b.length);
  return {
    plan,
    request: req.bytes,
    requests: req.requests,
    head: req.head,
    reads,
    fin: rng.weighted<CgiInput['fin']>([
      ['now', 3],
      ['later', 3],
      ['never', 2],
    ]),
    slowReader: rng.chance(0.15),
    resetAfterTurns: rng.chance(0.04) ? rng.int(0, 6) : null,
    highWaterMark: rng.chance(0.3) ? rng.int(64, 4096) : 16 * 1024,
    notes,
  };
}
