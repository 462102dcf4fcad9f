// Node's own llhttp binding (node:_http_common), typed once, the free list of
// its parsers, and what it takes to drive it: its errors as porta's, the
// synthetic head replayed after an upgrade. native.ts adapts it to porta's
// RequestParser.

import { overflowError } from './common';
import { HEADER_OVERFLOW, type ParseError, type RequestHead } from './types';

export interface NativeParseError extends Error {
  code?: string;
  reason?: string;
  bytesParsed?: number;
}

/** The slice of the internal binding we use, typed once here. */
export interface NativeHTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(chunk: Buffer): number | NativeParseError;
  finish(): undefined | NativeParseError;
  resume(): void;
  close(): void;
  free(): void;
  [slot: number]: unknown;
}

interface NativeHTTPParserClass {
  new (): NativeHTTPParser;
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

export interface HttpCommon {
  HTTPParser: NativeHTTPParserClass & { kLenientVersion?: number };
}

function loadBinding(): HttpCommon | null {
  try {
    const common = require('node:_http_common') as Partial<HttpCommon>;
    if (typeof common.HTTPParser !== 'function') return null;
    return common as HttpCommon;
  } catch {
    return null;
  }
}

export const binding = loadBinding();

/**
 * No bytes, at a real address. Node's binding runs llhttp_finish() (the
 * peer's EOF) instead of llhttp_execute() when a buffer's data pointer is
 * null, and a zero-length Buffer has a null one once its ArrayBuffer exists
 * (anything that read its `.buffer`): "execute nothing" would then fail a
 * message in progress with HPE_INVALID_EOF_STATE.
 */
export const NO_BYTES = Buffer.from(new ArrayBuffer(1), 0, 0);

/**
 * Node's parsers let go of (destroy()), ready to be initialised again: a
 * connection holds one only while it reads a request (net/reader.ts), so a
 * keep-alive connection takes one per request, and making the C++ side costs
 * more than re-initialising it (about 1 µs a request). Node's own http server
 * keeps such a free list too (`parsers` in _http_common, 1000).
 */
const spare: NativeHTTPParser[] = [];
const SPARE_MAX = 128;
/** The slots of the callbacks this adapter sets. */
export const CALLBACK_SLOTS: readonly number[] =
  binding === null
    ? []
    : (({ kOnMessageBegin, kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute }) => [
        kOnMessageBegin,
        kOnHeaders,
        kOnHeadersComplete,
        kOnBody,
        kOnMessageComplete,
        kOnExecute,
      ])(binding.HTTPParser);

export function nativeParserAvailable(): boolean {
  return binding !== null;
}

/** Lenient flags: version only (see wasm.ts for why that one, and no other). */
export function lenientFlags(): number {
  return binding?.HTTPParser.kLenientVersion ?? 16;
}

/** A parser from the free list, or a new one. */
export function takeParser(HTTPParser: NativeHTTPParserClass): NativeHTTPParser {
  return spare.pop() ?? new HTTPParser();
}

/** A parser let go of (its callbacks already cut): kept for the next request, or closed when enough are. */
export function putBack(parser: NativeHTTPParser): void {
  if (spare.length >= SPARE_MAX) return parser.close();
  // As Node's freeParser(): the async resource ends here, the C++ side is kept.
  parser.free();
  spare.push(parser);
}

/** Node's error as porta's. `inUrl`: a header overflow happened inside the request-target. */
export function nativeError(
  ret: NativeParseError,
  offset: number,
  shown: string,
  before: string,
  inUrl: boolean,
): ParseError {
  if (ret.code === HEADER_OVERFLOW) return overflowError(inUrl, offset, shown);
  return { code: ret.code ?? 'HPE_INTERNAL', reason: ret.reason ?? ret.message, offset, following: shown, before };
}

/** What an Upgrade head says of its body: llhttp frames the body from these alone (both together were refused). */
export function upgradeFraming(rawHeaders: readonly string[]): string {
  let framing = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (name === 'transfer-encoding' || name === 'content-length') {
      framing += `${name}: ${rawHeaders[i + 1] as string}\r\n`;
    }
  }
  return framing;
}

/** The head replayed after an Upgrade/CONNECT one (see native.ts): its version and `framing`, no upgrade. */
export function replayText(head: RequestHead, framing: string): string {
  // llhttp_should_keep_alive() decides what follows the message: keep it.
  const v11 = head.versionMajor > 0 && head.versionMinor > 0;
  const connection =
    v11 === head.keepAlive ? '' : head.keepAlive ? 'connection: keep-alive\r\n' : 'connection: close\r\n';
  const method = head.method === 'CONNECT' || head.method === 'UNKNOWN' ? 'GET' : head.method;
  return `${method} / HTTP/${head.versionMajor}.${head.versionMinor}\r\n${framing}${connection}\r\n`;
}
