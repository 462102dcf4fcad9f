// A response head built once per header list and second. A static file's
// answer is the same bytes for every request in one second: the status line,
// Date (one value a second, RFC 9110 §6.6.1), Server, the file's fields (its
// type and validators, fixed while its Stats is), Content-Length. Building
// them per request cost string concatenation, a Buffer and a copy of the body
// (bench/README.md, "Where a W1 request's time goes"); remembered, a small
// file's whole answer is one Buffer written again and again.
//
// Only lists a handler declares fixed are remembered, keyed by the list
// object itself, which nobody changes once declared (a frozen array). The
// memo is checked against everything else the head depends on (status,
// length, Connection, version, the second), so a stale one is never sent.
// Pure: no sockets here.

import {
  buildHead,
  dateSecond,
  type HeadFraming,
  type HeaderList,
  isSafeFieldValue,
  type ResponseVersion,
} from './response';

interface HeadMemo {
  status: number;
  /** Content-Length, or -1 for a head without one. */
  length: number;
  connection: 'close' | 'keep-alive' | null;
  version: ResponseVersion;
  second: number;
  head: string;
  /** The head as bytes, made when first needed. */
  bytes: Buffer | null;
  /** The body last sent after this head (the same Buffer, a cached file), and head + body in one Buffer. */
  body: Buffer | null;
  whole: Buffer | null;
}

const fixedLists = new WeakMap<HeaderList, HeadMemo | null>();

/**
 * Declare `fields` fixed: frozen, and its heads remembered. Returns it, or
 * a plain copy when it cannot be (a value that is not safe on the wire, or a
 * Connection field, which the exchange must see and drop: those take the
 * ordinary path, with its checks).
 */
export function fixedFields(fields: HeaderList): HeaderList {
  for (const [name, value] of fields) {
    if (!isSafeFieldValue(value) || name.toLowerCase() === 'connection') return fields.slice();
  }
  for (const field of fields) Object.freeze(field);
  Object.freeze(fields);
  fixedLists.set(fields, null);
  return fields;
}

/** Declared with fixedFields(): values safe, no Connection field. */
export function isFixed(fields: HeaderList): boolean {
  return fixedLists.has(fields);
}

/** What the head built from a fixed list depends on besides the list. */
export interface FixedHeadSpec {
  status: number;
  fields: HeaderList;
  framing: HeadFraming;
  connection: 'close' | 'keep-alive' | null;
  version: ResponseVersion;
}

/** The head for a fixed list: remembered while status, length, Connection, version and second stay the same. */
export function fixedHead(spec: FixedHeadSpec): HeadMemo {
  const length = spec.framing.kind === 'length' ? spec.framing.length : spec.framing.kind === 'chunked' ? -2 : -1;
  const second = dateSecond();
  const known = fixedLists.get(spec.fields);
  if (
    known !== undefined &&
    known !== null &&
    known.second === second &&
    known.status === spec.status &&
    known.length === length &&
    known.connection === spec.connection &&
    known.version === spec.version
  ) {
    return known;
  }
  const memo: HeadMemo = {
    status: spec.status,
    length,
    connection: spec.connection,
    version: spec.version,
    second,
    head: buildHead(spec),
    bytes: null,
    body: null,
    whole: null,
  };
  if (known !== undefined) fixedLists.set(spec.fields, memo);
  return memo;
}

export type { HeadMemo };

/** The head's bytes. */
export function headBytes(memo: HeadMemo): Buffer {
  memo.bytes ??= Buffer.from(memo.head, 'latin1');
  return memo.bytes;
}

// Whole answers remembered in the current second, and their bytes: at most
// WHOLE_BUDGET, all let go when the second turns (they are stale then), so
// the copies of cached files held here stay bounded by the second's traffic,
// not by how many files were ever served.
const WHOLE_BUDGET = 1024 * 1024;
let wholeSecond = -1;
let wholes: HeadMemo[] = [];
let wholeBytes = 0;

/** Head and `body` in one Buffer (one write, one system call), remembered for the same body Buffer. */
export function headAndBody(memo: HeadMemo, body: Buffer): Buffer {
  if (memo.body === body && memo.whole !== null && memo.second === wholeSecond) return memo.whole;
  const whole = Buffer.allocUnsafe(memo.head.length + body.length);
  const written = whole.write(memo.head, 0, 'latin1');
  body.copy(whole, written);
  if (memo.second !== wholeSecond) forgetWholes(memo.second);
  // A body read afresh (a file not cached yet) is a new Buffer each time:
  // its memo's bytes are replaced, counted once.
  const held = memo.whole === null ? 0 : memo.whole.length;
  if (memo.second === wholeSecond && wholeBytes - held + whole.length <= WHOLE_BUDGET) {
    if (memo.whole === null) wholes.push(memo);
    wholeBytes += whole.length - held;
    memo.body = body;
    memo.whole = whole;
  }
  return whole;
}

function forgetWholes(second: number): void {
  // A memo of an earlier second is never asked again (fixedHead replaces it); one
  // of a later second means the clock moved on: start that second's budget.
  if (second < wholeSecond) return;
  for (const memo of wholes) {
    memo.body = null;
    memo.whole = null;
  }
  wholes = [];
  wholeBytes = 0;
  wholeSecond = second;
}
