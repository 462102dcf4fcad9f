// The one interface the connection sees of llhttp, whichever build runs it.
// The parser knows no socket: bytes go in through execute(), events come out
// through the sink, and every failure is data (code, reason, offset, what
// followed).

export interface RequestHead {
  method: string;
  /** The request-target exactly as sent (origin-form, absolute-form, …). */
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Flat [name, value, name, value, …], names as sent, values trimmed (RFC 9110 §5.5). */
  rawHeaders: string[];
  /** llhttp_should_keep_alive(): the version default plus the Connection header. */
  keepAlive: boolean;
  /** llhttp saw Upgrade/CONNECT. porta upgrades nothing (RFC 9110 §7.8 lets it ignore Upgrade). */
  upgrade: boolean;
}

/**
 * llhttp's callbacks as they happen, for --trace: the callback's name, its
 * offset in the chunk given to execute(), and for spans their length and
 * bytes. Only asked for when tracing; without it a parser does no extra work.
 */
export type ParserTrace = (callback: string, offset: number, length: number, value: string | null) => void;

export interface ParserSink {
  /** Set when tracing: every llhttp callback is told here too. */
  readonly parserTrace?: ParserTrace | null;
  /** The first byte of a request arrived. */
  onRequestBegin(): void;
  onRequestHead(head: RequestHead): void;
  onRequestBody(chunk: Buffer): void;
  /** The message ended. The parser stops right here (execute() returns 'paused'). */
  onRequestEnd(): void;
}

export interface ParseError {
  /** llhttp's error name, e.g. HPE_INVALID_METHOD. */
  code: string;
  reason: string;
  /**
   * Offset into the chunk given to execute() where parsing stopped. It may be
   * negative when the native build found the error while reading ahead in an
   * earlier chunk (see native.ts): the absolute position is still right.
   */
  offset: number;
  /** Up to 64 bytes (latin1) from where parsing stopped: one code can mean a 400 or a 501. */
  following: string;
  /**
   * The byte just before where parsing stopped, when this read holds it ('' otherwise):
   * llhttp stops at the space of "GE /", a method it does not know (501), and at
   * the space of " GET /", a malformed line (400).
   */
  before: string;
}

export type ExecStatus =
  | 'ok' // every byte consumed, no message ended
  | 'paused' // a message ended; parser.offset bytes were consumed
  | 'error'; // parser.error says why; the parser is dead

export type ParserKind = 'wasm' | 'native';

/**
 * The contract, the same for both builds:
 * - every event is delivered from inside execute() (or finish()), never from
 *   resume() and never between two calls;
 * - the parser stops at every message end: execute() returns 'paused' and
 *   delivers nothing more until resume() is called, after which the caller
 *   feeds the unconsumed rest, chunk.subarray(offset), even when it is empty
 *   (an error found while reading ahead is reported by that call).
 * The connection decides when to read on; the parser never runs ahead of it.
 */
export interface RequestParser {
  readonly kind: ParserKind;
  /** Bytes of the last chunk consumed when execute() returned 'paused' or 'error'. */
  readonly offset: number;
  readonly error: ParseError | null;
  execute(chunk: Buffer): ExecStatus;
  /**
   * A request line without a version (HTTP/0.9) has been read and llhttp waits
   * for its headers. Only the WASM build can always tell (it sees the byte
   * after the URL); the native one tells when the line starts a read.
   */
  readonly awaitingHttp09Head: boolean;
  /** Leave the paused state; the caller then feeds the unconsumed rest (possibly empty). */
  resume(): void;
  /** The peer closed: is the message in progress incomplete? */
  finish(): ParseError | null;
  destroy(): void;
}

export interface ParserOptions {
  /**
   * Node's rule: URL + header field names + values must stay below it (reaching
   * it is over), counted for the head, then afresh for the trailers. Over it:
   * HPE_HEADER_OVERFLOW → 431.
   */
  maxHeaderSize: number;
}

export const HEADER_OVERFLOW = 'HPE_HEADER_OVERFLOW';
/** The reason given when the overflow happened inside the request-target: 414, not 431. */
export const URL_OVERFLOW = 'Request-target overflow';

export const CHUNK_EXTENSIONS_OVERFLOW = 'HPE_CHUNK_EXTENSIONS_OVERFLOW';
/**
 * Bytes of chunk extensions allowed on one chunk line. Node's own binding
 * enforces this (its fix for CVE-2024-22019, unbounded extensions); the wasm
 * adapter measures the same thing from llhttp's body spans.
 */
export const MAX_CHUNK_EXTENSIONS = 16 * 1024;

/** How many bytes after an error position ParseError.following keeps. */
export const FOLLOWING_BYTES = 64;
