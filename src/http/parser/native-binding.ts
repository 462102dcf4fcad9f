// Node's own llhttp binding (node:_http_common), typed once, and the free
// list of its parsers. native.ts adapts it to porta's RequestParser.

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
