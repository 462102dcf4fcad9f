// Structure-aware request inputs: valid requests built as parts (request
// line, fields, body framing), mutated as parts (a field repeated or dropped,
// a length that lies, a chunk size in odd hex, a version or method that is
// not one, whitespace and line ends where they should not be, bytes that are
// not ASCII), then, sometimes, as bytes (flips, inserts, cuts), and finally
// split into the reads the connection will see. Everything comes from one
// Rng, so (seed, index) is the input.

import type { Rng } from '../chaos/rng';
import { ECHO_PATH } from './echo';
import { type FuzzInput, mutateBytes, splitReads } from './request-input';
import {
  CHUNK_SIZES,
  CL_LIES,
  EXPECTS,
  FIELD_LINES,
  HOSTS,
  METHODS,
  ODD_HOSTS,
  ODD_METHODS,
  ODD_VERSIONS,
  TARGET_INSERTS,
  TE_VALUES,
  VERSIONS,
} from './request-words';
import { TARGETS } from './site';

export type { FuzzInput } from './request-input';

interface Chunk {
  size: string;
  ext: string;
  data: Buffer;
  /** What follows the data: CRLF when well formed. */
  end: string;
}

type Body =
  | { kind: 'none' }
  | { kind: 'length'; data: Buffer } // the Content-Length field is a field, free to lie
  | { kind: 'chunked'; chunks: Chunk[]; last: string; trailers: string[] };

interface Req {
  preamble: string;
  method: string;
  sp1: string;
  target: string;
  sp2: string;
  version: string;
  eol: string;
  /** Whole field lines, without their line end. */
  fields: string[];
  fieldEol: string;
  headEnd: string;
  body: Body;
}

function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function text(rng: Rng, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(32, 126);
  return out;
}

function baseRequest(rng: Rng): Req {
  const method = rng.weighted<string>([
    ['GET', 10],
    ['HEAD', 3],
    ['POST', 4],
    [rng.pick(METHODS), 3],
  ]);
  const echoed = (method === 'POST' || method === 'PUT') && rng.chance(0.5);
  const path = echoed ? rng.pick([ECHO_PATH, `${ECHO_PATH}?stream`]) : rng.pick(TARGETS);
  const target = rng.chance(0.05) ? `http://${rng.pick(HOSTS)}${path.replace('*', '/')}` : path;
  const version = rng.chance(0.85) ? 'HTTP/1.1' : rng.pick(VERSIONS);
  const fields: string[] = [];
  if (version === 'HTTP/1.1' || rng.chance(0.5)) fields.push(`Host: ${rng.pick(HOSTS)}`);
  const extra = rng.int(0, 3);
  for (let i = 0; i < extra; i++) fields.push(rng.pick(FIELD_LINES));
  if (version === 'HTTP/1.0' && rng.chance(0.4)) fields.push('Connection: keep-alive');
  let body: Body = { kind: 'none' };
  const wantsBody = method === 'POST' || method === 'PUT' || rng.chance(0.08);
  if (wantsBody) {
    if (version === 'HTTP/1.1' && rng.chance(0.4)) {
      const chunks: Chunk[] = [];
      const n = rng.int(1, 4);
      for (let i = 0; i < n; i++) {
        const data = text(rng, rng.int(1, 40));
        chunks.push({ size: data.length.toString(16), ext: '', data, end: '\r\n' });
      }
      fields.push('Transfer-Encoding: chunked');
      body = { kind: 'chunked', chunks, last: '0', trailers: rng.chance(0.2) ? ['X-Trailer: t'] : [] };
    } else {
      const data = text(rng, rng.int(0, 60));
      fields.push(`Content-Length: ${data.length}`);
      body = { kind: 'length', data };
    }
    if (rng.chance(0.25)) fields.push('Expect: 100-continue');
    if (rng.chance(0.5)) fields.push('Content-Type: application/x-www-form-urlencoded');
  }
  // Field order is not meaningful: shuffle a little so Host is not always first.
  if (fields.length > 1 && rng.chance(0.3)) fields.push(fields.splice(rng.int(0, fields.length - 1), 1)[0] as string);
  return {
    preamble: '',
    method,
    sp1: ' ',
    target,
    sp2: ' ',
    version,
    eol: '\r\n',
    fields,
    fieldEol: '\r\n',
    headEnd: '\r\n',
    body,
  };
}

// ---- structure mutations ------------------------------------------------------------

type Mutator = (rng: Rng, req: Req) => string;

const mutators: Array<readonly [Mutator, number]> = [
  [repeatField, 6],
  [dropField, 6],
  [addField, 8],
  [lieLength, 8],
  [oddChunks, 8],
  [oddMethod, 3],
  [oddVersion, 3],
  [oddTarget, 6],
  [oddWhitespace, 5],
  [oddHost, 4],
  [oddValue, 4],
  [bodyLength, 4],
  [oversize, 1],
];

function repeatField(rng: Rng, req: Req): string {
  if (req.fields.length === 0) return 'repeat: none';
  const line = rng.pick(req.fields);
  const [name] = line.split(':');
  const copy = rng.chance(0.5) ? line : `${name}: ${rng.chance(0.5) ? '7' : 'other'}`;
  req.fields.splice(rng.int(0, req.fields.length), 0, copy);
  return `repeat ${JSON.stringify(copy)}`;
}

function dropField(rng: Rng, req: Req): string {
  if (req.fields.length === 0) return 'drop: none';
  const [line] = req.fields.splice(rng.int(0, req.fields.length - 1), 1);
  return `drop ${JSON.stringify(line)}`;
}

function addField(rng: Rng, req: Req): string {
  const line = rng.weighted<string>([
    [`Transfer-Encoding: ${rng.pick(TE_VALUES)}`, 4],
    [`Content-Length: ${rng.pick(CL_LIES)}`, 4],
    [`Expect: ${rng.pick(EXPECTS)}`, 2],
    [rng.pick(FIELD_LINES), 4],
    [`Host: ${rng.pick(ODD_HOSTS)}`, 2],
  ]);
  req.fields.splice(rng.int(0, req.fields.length), 0, line);
  return `add ${JSON.stringify(line)}`;
}

function lieLength(rng: Rng, req: Req): string {
  const at = req.fields.findIndex((f) => /^content-length:/i.test(f));
  const actual = req.body.kind === 'length' ? req.body.data.length : 0;
  const value = rng.weighted<string>([
    [String(Math.max(0, actual + rng.int(-5, 5))), 5],
    [String(actual * 2 + 1), 1],
    [rng.pick(CL_LIES), 4],
    ['0', 1],
  ]);
  if (at >= 0) req.fields[at] = `Content-Length: ${value}`;
  else req.fields.push(`Content-Length: ${value}`);
  return `Content-Length ${JSON.stringify(value)} for ${actual} bytes`;
}

function oddChunks(rng: Rng, req: Req): string {
  if (req.body.kind !== 'chunked') {
    const data = text(rng, rng.int(1, 20));
    req.fields = req.fields.filter((f) => !/^(content-length|transfer-encoding):/i.test(f));
    req.fields.push('Transfer-Encoding: chunked');
    req.body = {
      kind: 'chunked',
      chunks: [{ size: data.length.toString(16), ext: '', data, end: '\r\n' }],
      last: '0',
      trailers: [],
    };
  }
  const body = req.body;
  const chunk = rng.pick(body.chunks);
  switch (rng.int(0, 6)) {
    case 0:
      chunk.size = rng.pick(CHUNK_SIZES);
      return `chunk size ${JSON.stringify(chunk.size)}`;
    case 1:
      chunk.size = chunk.data.length.toString(16).toUpperCase().padStart(rng.int(1, 8), '0');
      return `chunk size padded ${chunk.size}`;
    case 2:
      chunk.ext = rng.pick([
        ';a=b',
        ';',
        ';a="q;\\"x"',
        `;${'e'.repeat(rng.int(100, 17000))}`,
        ' ;x',
        ';\x00',
        ';a=\x80',
      ]);
      return `chunk extension of ${chunk.ext.length}`;
    case 3:
      chunk.end = rng.pick(['', '\n', '\r', 'xx', '\r\n\r\n', ' \r\n']);
      return `chunk end ${JSON.stringify(chunk.end)}`;
    case 4:
      body.last = rng.pick(['00', '0;x=y', '0 ', '', '1', '000000000000000000000']);
      return `last chunk ${JSON.stringify(body.last)}`;
    case 5:
      body.trailers = [
        rng.pick(['X: y', 'Content-Length: 5', 'Bad Name: v', 'X:\x00', ':v', 'Transfer-Encoding: chunked']),
      ];
      return `trailer ${JSON.stringify(body.trailers[0])}`;
    default:
      chunk.size = (chunk.data.length + rng.int(-3, 3)).toString(16).replace('-', '');
      return `chunk size lies ${chunk.size} for ${chunk.data.length}`;
  }
}

function oddMethod(rng: Rng, req: Req): string {
  req.method = rng.chance(0.6) ? rng.pick(ODD_METHODS) : rng.pick(METHODS);
  return `method ${JSON.stringify(req.method)}`;
}

function oddVersion(rng: Rng, req: Req): string {
  req.version = rng.pick(ODD_VERSIONS);
  return `version ${JSON.stringify(req.version)}`;
}

function oddTarget(rng: Rng, req: Req): string {
  const insert = rng.chance(0.05) ? 'a'.repeat(rng.int(300, 9000)) : rng.pick(TARGET_INSERTS);
  const at = rng.int(0, req.target.length);
  req.target = req.target.slice(0, at) + insert + req.target.slice(at);
  return `target ${JSON.stringify(req.target.slice(0, 60))}`;
}

function oddWhitespace(rng: Rng, req: Req): string {
  switch (rng.int(0, 7)) {
    case 0:
      req.sp1 = rng.pick(['  ', '\t', '', ' \t']);
      return `sp1 ${JSON.stringify(req.sp1)}`;
    case 1:
      req.sp2 = rng.pick(['  ', '\t', '', ' \r\n']);
      return `sp2 ${JSON.stringify(req.sp2)}`;
    case 2:
      req.eol = rng.pick(['\n', '\r', '\r\r\n', ' \r\n']);
      return `request line end ${JSON.stringify(req.eol)}`;
    case 3:
      req.fieldEol = rng.pick(['\n', '\r', '\r\r\n']);
      return `field line end ${JSON.stringify(req.fieldEol)}`;
    case 4:
      req.headEnd = rng.pick(['\n', '', '\r', '\r\n\r\n']);
      return `head end ${JSON.stringify(req.headEnd)}`;
    case 5:
      req.preamble = rng.pick(['\r\n', '\r\n\r\n', '\n', ' ', '\x00']);
      return `preamble ${JSON.stringify(req.preamble)}`;
    case 6: {
      if (req.fields.length === 0) return 'field spacing: none';
      const i = rng.int(0, req.fields.length - 1);
      const line = req.fields[i] as string;
      req.fields[i] = line.replace(':', rng.pick([' :', ':', ' : ', ':\t', '\t:']));
      return `field spacing ${JSON.stringify(req.fields[i])}`;
    }
    default:
      req.fields.splice(
        rng.int(0, req.fields.length),
        0,
        rng.pick([' folded', '\tfolded', '', 'NoColon', ': novalue']),
      );
      return 'field line that is not a field';
  }
}

function oddHost(rng: Rng, req: Req): string {
  req.fields = req.fields.filter((f) => !/^host:/i.test(f));
  const host = rng.pick(ODD_HOSTS);
  req.fields.push(`Host: ${host}`);
  return `host ${JSON.stringify(host)}`;
}

function oddValue(rng: Rng, req: Req): string {
  const bad = rng.pick(['\x00', '\x7f', '\x80', '\xff', '\x01', '\r', 'a\rb', '\x1b[0m']);
  req.fields.splice(rng.int(0, req.fields.length), 0, `X-Odd: v${bad}v`);
  return `value with ${JSON.stringify(bad)}`;
}

function bodyLength(rng: Rng, req: Req): string {
  if (req.body.kind !== 'length') return 'body length: none';
  const delta = rng.int(-10, 10);
  req.body.data =
    delta >= 0
      ? Buffer.concat([req.body.data, text(rng, delta)])
      : req.body.data.subarray(0, Math.max(0, req.body.data.length + delta));
  return `body now ${req.body.data.length} bytes`;
}

function oversize(rng: Rng, req: Req): string {
  if (rng.chance(0.5)) {
    const n = rng.int(8000, 20000);
    req.fields.push(`X-Big: ${'b'.repeat(n)}`);
    return `field of ${n} bytes`;
  }
  const n = rng.int(100, 400);
  for (let i = 0; i < n; i++) req.fields.push(`X-F${i}: ${i}`);
  return `${n} more fields`;
}

function serialize(req: Req): Buffer {
  const head =
    req.preamble +
    req.method +
    req.sp1 +
    req.target +
    req.sp2 +
    req.version +
    req.eol +
    req.fields.map((f) => f + req.fieldEol).join('') +
    req.headEnd;
  const parts = [latin1(head)];
  const body = req.body;
  if (body.kind === 'length') parts.push(body.data);
  else if (body.kind === 'chunked') {
    for (const c of body.chunks) parts.push(latin1(`${c.size}${c.ext}\r\n`), c.data, latin1(c.end));
    parts.push(latin1(`${body.last}\r\n${body.trailers.map((t) => `${t}\r\n`).join('')}\r\n`));
  }
  return Buffer.concat(parts);
}

export function generateInput(rng: Rng): FuzzInput {
  const notes: string[] = [];
  const batch = rng.weighted<number>([
    [1, 6],
    [2, 2],
    [3, 1],
    [5, 1],
  ]);
  const requests: Buffer[] = [];
  const bodies: Buffer[] = [];
  let persistent = true;
  for (let i = 0; i < batch; i++) {
    const req = baseRequest(rng);
    const mutations = rng.weighted<number>([
      [0, 3],
      [1, 4],
      [2, 2],
      [3, 1],
    ]);
    for (let m = 0; m < mutations; m++) notes.push(`#${i} ${rng.weighted(mutators)(rng, req)}`);
    requests.push(serialize(req));
    persistent &&=
      req.version === 'HTTP/1.1' &&
      // A refused CONNECT closes: what follows it may be tunnel bytes, not HTTP (RFC 9110 §9.3.6).
      req.method !== 'CONNECT' &&
      (req.target !== '*' || req.method === 'OPTIONS') &&
      !req.fields.some((f) => /^(connection|upgrade|expect):/i.test(f));
    const body = req.body;
    bodies.push(
      body.kind === 'length' ? body.data : Buffer.concat(body.kind === 'chunked' ? body.chunks.map((c) => c.data) : []),
    );
  }
  let bytes: Buffer = Buffer.concat(requests);
  if (rng.chance(0.25)) {
    const n = rng.int(1, 3);
    for (let i = 0; i < n; i++) bytes = mutateBytes(rng, bytes, notes);
  }
  const reads = splitReads(rng, bytes.length);
  return {
    bytes,
    reads,
    pauses: reads.map(() => rng.chance(0.4)),
    fin: rng.weighted<FuzzInput['fin']>([
      ['now', 4],
      ['later', 3],
      ['never', 3],
    ]),
    slowReader: rng.chance(0.1),
    resetAt: rng.chance(0.03) ? rng.int(0, reads.length) : null,
    shutdownAt: rng.chance(0.03) ? rng.int(0, reads.length) : null,
    highWaterMark: rng.chance(0.2) ? rng.int(1, 512) : 16 * 1024,
    tight: rng.chance(0.25),
    notes,
    bodies: notes.length === 0 ? bodies : null,
    persistent: persistent && notes.length === 0,
  };
}
