// One fuzz input as the connection meets it (the bytes, the reads they
// arrive in, how the peer behaves around them) and the byte-level half of the
// mutation: flips, inserts, cuts and repeats on the serialized requests, then
// the split into reads.

import type { Rng } from '../chaos/rng';

export interface FuzzInput {
  bytes: Buffer;
  /** Read sizes that add up to bytes.length. */
  reads: number[];
  /** Before read i, let the loop turn (the read lands in a later tick). */
  pauses: boolean[];
  /** After the input: the peer's FIN at once, or only once the connection went quiet, or never. */
  fin: 'now' | 'later' | 'never';
  /** The peer reads nothing until the input is all sent. */
  slowReader: boolean;
  /** Reset the connection before this read (null: never). */
  resetAt: number | null;
  /** Ask the connection to shut down before this read (null: never). */
  shutdownAt: number | null;
  /** Socket's writable high-water mark. */
  highWaterMark: number;
  /** Use the tight-limits context. */
  tight: boolean;
  /** What was done to it, for the failure report. */
  notes: string[];
  /** When nothing was mutated: each request's body as sent (de-chunked), in order; else null. */
  bodies: Buffer[] | null;
  /** Unmutated HTTP/1.1 requests that ask for no close, upgrade or 100-continue: each must be answered. */
  persistent: boolean;
}

function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

// ---- byte mutations -------------------------------------------------------------------

const TOKENS = [
  '\r\n',
  '\r\n\r\n',
  '\n',
  '\r',
  ' ',
  ':',
  '\x00',
  '\x80',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 3\r\n',
  '0\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
];

export function mutateBytes(rng: Rng, bytes: Buffer, notes: string[]): Buffer {
  if (bytes.length === 0) return bytes;
  const at = rng.int(0, bytes.length - 1);
  switch (rng.int(0, 5)) {
    case 0: {
      const out = Buffer.from(bytes);
      out[at] = (out[at] as number) ^ (1 << rng.int(0, 7));
      notes.push(`bit flip at ${at}`);
      return out;
    }
    case 1: {
      const out = Buffer.from(bytes);
      out[at] = rng.pick([0, 9, 10, 13, 32, 58, 59, 0x7f, 0x80, 0xff, 48, 97]);
      notes.push(`byte ${out[at]} at ${at}`);
      return out;
    }
    case 2: {
      const token = rng.pick(TOKENS);
      notes.push(`insert ${JSON.stringify(token)} at ${at}`);
      return Buffer.concat([bytes.subarray(0, at), latin1(token), bytes.subarray(at)]);
    }
    case 3: {
      const n = rng.int(1, 16);
      notes.push(`delete ${n} at ${at}`);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + n)]);
    }
    case 4: {
      const n = rng.int(1, 32);
      notes.push(`repeat ${n} at ${at}`);
      return Buffer.concat([bytes.subarray(0, at + n), bytes.subarray(at)]);
    }
    default:
      notes.push(`truncate at ${at}`);
      return bytes.subarray(0, at);
  }
}

// ---- reads ----------------------------------------------------------------------------

export function splitReads(rng: Rng, length: number): number[] {
  if (length === 0) return [];
  const mode = rng.weighted<string>([
    ['whole', 3],
    ['cuts', 5],
    ['bytes', length <= 200 ? 1 : 0],
    ['small', length <= 4096 ? 1 : 0],
  ]);
  const reads: number[] = [];
  if (mode === 'whole') return [length];
  if (mode === 'bytes') return new Array<number>(length).fill(1);
  if (mode === 'small') {
    const size = rng.int(2, 16);
    for (let left = length; left > 0; left -= size) reads.push(Math.min(size, left));
    return reads;
  }
  const cuts = new Set<number>();
  const n = rng.int(1, Math.min(8, length));
  for (let i = 0; i < n; i++) cuts.add(rng.int(1, length));
  let last = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > last) reads.push(cut - last);
    last = cut;
  }
  if (last < length) reads.push(length - last);
  return reads;
}

/** Input `index` of the run seeded by `rng`'s seed. */
