// What both builds (native.ts, wasm.ts) say the same way: the failure they
// report, the head as a trace line; and a field value as RFC 9110 has it,
// which the wasm adapter trims itself (llhttp leaves trailing whitespace in
// the value's span). Pure functions only: each build keeps its own state and
// its own hot path.

import {
  type ExecStatus,
  FOLLOWING_BYTES,
  HEADER_OVERFLOW,
  type ParseError,
  type RequestHead,
  URL_OVERFLOW,
} from './types';

declare global {
  interface Buffer {
    /** Undocumented but stable since Node 0.x; ~20% faster than toString('latin1', …). */
    latin1Slice(start: number, end: number): string;
  }
}

/** ParseError.following: up to FOLLOWING_BYTES bytes of `chunk` from `at`. */
export function following(chunk: Buffer, at: number): string {
  return chunk.latin1Slice(Math.max(0, at), Math.min(chunk.length, at + FOLLOWING_BYTES));
}

/** ParseError.before: the byte of `chunk` before `at`; at 0, `prior` (the byte before the chunk, -1 if none). */
export function byteBefore(chunk: Buffer, at: number, prior: number): string {
  if (at === 0) return prior < 0 ? '' : String.fromCharCode(prior);
  return at > 0 && at <= chunk.length ? chunk.latin1Slice(at - 1, at) : '';
}

/**
 * The byte before what the next execute() gets: the last one parsed of
 * `chunk` (through `offset`). A number, not a string: this runs every read.
 */
export function priorAfter(chunk: Buffer, status: ExecStatus, offset: number, prior: number): number {
  const end = status === 'ok' ? chunk.length : offset;
  return end > 0 && end <= chunk.length ? (chunk[end - 1] ?? prior) : prior;
}

/** Too many head bytes: inside the request-target that is a 414, past it a 431. */
export function overflowError(inUrl: boolean, offset: number, shown: string): ParseError {
  return {
    code: HEADER_OVERFLOW,
    reason: inUrl ? URL_OVERFLOW : 'Header overflow',
    offset,
    following: shown,
    before: '',
  };
}

/** The request line as llhttp understood it, for --trace. */
export function requestLine(head: RequestHead): string {
  return `${head.method} ${head.url} HTTP/${head.versionMajor}.${head.versionMinor}`;
}

/** RFC 9110 §5.5: OWS around a field value is not part of it. llhttp drops the leading part. */
export function trimTrailingWhitespace(value: string): string {
  let end = value.length;
  while (end > 0) {
    const c = value.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  return end === value.length ? value : value.slice(0, end);
}
