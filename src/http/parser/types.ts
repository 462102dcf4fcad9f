// The one interface the connection sees of llhttp, whichever build runs it.
// The parser knows no socket: bytes go in through execute(), events come out
// through the sink, and every failure is data (code, reason, offset).

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

export interface ParserSink {
  /** The first byte of a request arrived. */
  onRequestBegin(): void;
  onRequestHead(head: RequestHead): void;
  onRequestBody(chunk: Buffer): void;
  /** Return true to stop the parser exactly at this message boundary. */
  onRequestEnd(): boolean;
}

export interface ParseError {
  /** llhttp's error name, e.g. HPE_INVALID_METHOD. */
  code: string;
  reason: string;
  /** Offset into the chunk given to execute() where parsing stopped. */
  offset: number;
}

export type ExecStatus =
  | 'ok' // every byte consumed
  | 'paused' // stopped at a message boundary; parser.offset says where
  | 'error'; // parser.error says why; the parser is dead

export type ParserKind = 'wasm' | 'native';

export interface RequestParser {
  readonly kind: ParserKind;
  /** Bytes of the last chunk consumed when execute() returned 'paused' or 'error'. */
  readonly offset: number;
  readonly error: ParseError | null;
  execute(chunk: Buffer): ExecStatus;
  /**
   * A request line without a version (HTTP/0.9) has been read and llhttp waits
   * for its headers. Only the WASM build can tell (it sees the byte after the
   * URL); the native one always says false and leaves it to the head timeout.
   */
  readonly awaitingHttp09Head: boolean;
  /** Leave the paused state; the caller then feeds the unparsed tail again. */
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
