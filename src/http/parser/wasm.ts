// llhttp compiled to WebAssembly, as shipped inside undici@7 (pinned exactly in
// package.json: the deep require paths in wasm-instance.ts are not a public
// API). Driven the way undici's client-h1.js drives it: one shared instance,
// one synchronous llhttp_execute at a time, the "current parser" beside it.

import { byteBefore, following, priorAfter, overflowError, requestLine, trimTrailingWhitespace } from './common';
import { methodName } from './methods';
import {
  cString,
  ERR_OK,
  ERR_PAUSED,
  ERR_PAUSED_UPGRADE,
  type LlhttpCallbacks,
  type LlhttpExports,
  llhttpInstance,
  loadInput,
  setCurrent,
  TYPE_REQUEST,
} from './wasm-instance';
import { CHUNK_EXTENSIONS_OVERFLOW, MAX_CHUNK_EXTENSIONS } from './types';
import type {
  ExecStatus,
  ParseError,
  ParserOptions,
  ParserSink,
  ParserTrace,
  RequestHead,
  RequestParser,
} from './types';

/**
 * What a chunk line holds besides its extensions: the CRLF that ended the
 * previous chunk's data, the size's hex digits, the ';' and the line's CRLF.
 * Node counts extension names and values alone (over 16 KiB → 413); this
 * build sees only the whole line, so the two agree but for a few bytes.
 */
const CHUNK_LINE_FRAMING = 6;

type HeaderPart = 'none' | 'field' | 'value';
/** Why llhttp returned HPE_PAUSED: a message ended (the sink's pause), or our own stop at a chunked head. */
type PauseReason = 'none' | 'messageEnd' | 'chunkedHead' | 'trace';

export class WasmParser implements RequestParser, LlhttpCallbacks {
  readonly kind = 'wasm' as const;
  offset = 0;
  error: ParseError | null = null;

  readonly #lib: LlhttpExports;
  readonly #sink: ParserSink;
  readonly #maxHeaderSize: number;
  #ptr: number;
  // The head being assembled; spans may arrive split across reads.
  #url = '';
  #rawHeaders: string[] = [];
  #lastPart: HeaderPart = 'none';
  #headerBytes = 0;
  #inTrailers = false;
  #overflow = false;
  #overflowInUrl = false;
  /** Between message-begin and headers-complete. */
  #awaitingHead = false;
  #http09 = false;
  /** The URL ended with a CR at the very end of a read: HTTP/0.9 if the next byte is its LF. */
  #http09Cr = false;
  /** The byte before the next chunk's first (ParseError.before), -1 before the first. */
  #prior = -1;
  #pause: PauseReason = 'none';
  // Chunk lines. llhttp (this build has no chunk-extension callbacks) skips
  // extensions without a bound, so the bytes between two chunks' data (the
  // chunk line) are measured from the body spans: a chunked body is the only
  // place llhttp consumes bytes that reach no callback.
  #inChunkedBody = false;
  /** Offset in the current chunk from which non-data bytes are counted. */
  #mark = 0;
  /** Non-data bytes since the last data (or the head's end), across reads. */
  #lineBytes = 0;
  #extensionsOverflow = false;
  /** A chunked body ended with no trailers: its last chunk line ("0", extensions) ends at the message's end. */
  #lastChunkLine = false;
  /**
   * --trace: each callback told with its offset. The callbacks that carry no
   * pointer (message begin, headers complete) pause llhttp for a moment, so
   * that llhttp_get_error_pos says where they happened; only when tracing.
   */
  #trace: ParserTrace | null;
  #traced: { callback: string; detail: string | null } | null = null;
  /** Bytes of the chunk before the part llhttp is executing now (span offsets are relative to that part). */
  #done = 0;

  constructor(sink: ParserSink, options: ParserOptions) {
    this.#lib = llhttpInstance();
    this.#sink = sink;
    this.#maxHeaderSize = options.maxHeaderSize;
    this.#trace = sink.parserTrace ?? null;
    this.#ptr = this.#lib.llhttp_alloc(TYPE_REQUEST);
    // Every lenient flag stays off but one: each of the others reopens a
    // request smuggling class (obs-fold CVE-2024-27982, bare LF CVE-2022-32214,
    // …). Lenient *version* only lets any digit.digit through, so that
    // HTTP/1.2 can be served as HTTP/1.1 (RFC 9110 §2.5) and HTTP/3.0 refused
    // with 505 by the connection; "HTTP/1.x" is still a parse error.
    this.#lib.llhttp_set_lenient_version(this.#ptr, 1);
  }

  execute(chunk: Buffer): ExecStatus {
    const status = this.#execute(chunk);
    this.#prior = priorAfter(chunk, status, this.offset, this.#prior);
    return status;
  }

  #execute(chunk: Buffer): ExecStatus {
    const lib = this.#lib;
    // Bytes of `chunk` parsed by earlier rounds (after an upgrade or our own
    // pause at a chunked head): offsets reported are into the chunk given.
    let done = 0;
    let rest = chunk;
    this.#mark = 0;
    this.#done = 0;
    if (this.#http09Cr) {
      this.#http09Cr = false;
      if (chunk[0] === 0x0a) this.#http09 = true;
    }
    for (;;) {
      const base = loadInput(lib, rest);
      let ret: number;
      setCurrent(this);
      try {
        ret = lib.llhttp_execute(this.#ptr, base, rest.length);
      } finally {
        setCurrent(null);
      }
      if (ret === ERR_OK) {
        if (this.#countLine(rest, rest.length)) return this.#fail(chunk, chunk.length, ERR_OK);
        this.offset = chunk.length;
        return 'ok';
      }
      const offset = done + lib.llhttp_get_error_pos(this.#ptr) - base;
      if (ret === ERR_PAUSED && this.#traced !== null) {
        // A pointer-less callback, paused only to learn its position.
        const { callback, detail } = this.#traced;
        this.#traced = null;
        this.#trace?.(callback, offset, 0, detail);
      }
      if (ret === ERR_PAUSED && (this.#pause === 'chunkedHead' || this.#pause === 'trace')) {
        this.#pause = 'none';
        lib.llhttp_resume(this.#ptr);
        // Spans are reported relative to the bytes handed to llhttp_execute:
        // from here on, `rest`.
        this.#mark = 0;
        done = offset;
        this.#done = offset;
        rest = chunk.subarray(offset);
        continue;
      }
      if (ret === ERR_PAUSED) {
        this.#pause = 'none';
        this.offset = offset;
        if (this.#lastChunkLine) {
          // The last chunk line is bounded like every other (CVE-2024-22019):
          // counted here, where its end is known, before the message is said to end.
          this.#lastChunkLine = false;
          const end = offset - done;
          if (this.#trace !== null && end > this.#mark)
            this.#traceSpan('chunk_line', rest, this.#mark, end - this.#mark);
          this.#lineBytes += end - this.#mark;
          // Its line ends with the empty line that closes the (absent) trailers: 2 bytes more.
          if (this.#lineBytes > MAX_CHUNK_EXTENSIONS + CHUNK_LINE_FRAMING + 2) {
            this.#extensionsOverflow = true;
            return this.#fail(chunk, offset, ERR_OK);
          }
        }
        this.#sink.onRequestEnd();
        this.#trace?.('message_complete', offset, 0, null);
        return 'paused';
      }
      if (ret === ERR_PAUSED_UPGRADE) {
        // RFC 9110 §7.8: a server may ignore Upgrade; keep parsing HTTP/1.1.
        lib.llhttp_resume_after_upgrade(this.#ptr);
        done = offset;
        this.#done = offset;
        this.#mark = 0;
        rest = chunk.subarray(offset);
        continue;
      }
      return this.#fail(chunk, offset, ret);
    }
  }

  #fail(chunk: Buffer, offset: number, ret: number): 'error' {
    this.offset = offset;
    this.error = this.#describe(ret, offset, following(chunk, offset), byteBefore(chunk, offset, this.#prior));
    return 'error';
  }

  /**
   * The current request line ended right after its URL (HTTP/0.9) and llhttp
   * now waits for headers such a client never sends. Not part of the event
   * log: the connection uses it to answer at once instead of at the head timeout.
   */
  get awaitingHttp09Head(): boolean {
    return this.#awaitingHead && this.#http09;
  }

  resume(): void {
    this.#lib.llhttp_resume(this.#ptr);
  }

  finish(): ParseError | null {
    setCurrent(this);
    let ret: number;
    try {
      ret = this.#lib.llhttp_finish(this.#ptr);
    } finally {
      setCurrent(null);
    }
    return ret === ERR_OK || ret === ERR_PAUSED ? null : this.#describe(ret, 0, '', '');
  }

  destroy(): void {
    if (this.#ptr !== 0) this.#lib.llhttp_free(this.#ptr);
    this.#ptr = 0;
  }

  #describe(ret: number, offset: number, shown: string, before: string): ParseError {
    if (this.#overflow) return overflowError(this.#overflowInUrl, offset, shown);
    if (this.#extensionsOverflow) {
      return { code: CHUNK_EXTENSIONS_OVERFLOW, reason: 'Chunk extensions overflow', offset, following: shown, before };
    }
    const lib = this.#lib;
    return {
      code: cString(lib, lib.llhttp_errno_name(ret)),
      reason: cString(lib, lib.llhttp_get_error_reason(this.#ptr)),
      offset,
      following: shown,
      before,
    };
  }

  /** Count the chunk line bytes from the mark up to `end`; true when over the limit. */
  #countLine(_chunk: Buffer, end: number): boolean {
    if (!this.#inChunkedBody) return false;
    this.#lineBytes += end - this.#mark;
    this.#mark = end;
    if (this.#lineBytes <= MAX_CHUNK_EXTENSIONS + CHUNK_LINE_FRAMING) return false;
    this.#extensionsOverflow = true;
    return true;
  }

  // llhttp callbacks. A non-zero return from a span callback stops the parser (HPE_USER).

  onMessageBegin(): number {
    this.#url = '';
    this.#rawHeaders = [];
    this.#lastPart = 'none';
    this.#headerBytes = 0;
    this.#inTrailers = false;
    this.#awaitingHead = true;
    this.#http09 = false;
    this.#http09Cr = false;
    // Asked again for each message: tracing may have started (a flow page opened) or stopped.
    this.#trace = this.#sink.parserTrace ?? null;
    this.#sink.onRequestBegin();
    return this.#pauseToTrace('message_begin', null);
  }

  /** Tracing: stop here so execute() learns the offset of a callback that has no pointer. */
  #pauseToTrace(callback: string, detail: string | null): number {
    if (this.#trace === null || this.#pause !== 'none') return 0;
    this.#traced = { callback, detail };
    this.#pause = 'trace';
    return ERR_PAUSED;
  }

  #traceSpan(callback: string, chunk: Buffer, start: number, len: number): void {
    const shown = chunk.latin1Slice(start, Math.min(start + len, start + 256));
    (this.#trace as ParserTrace)(callback, this.#done + start, len, shown);
  }

  /**
   * Node's rule (TrackHeader in node_http_parser.cc), so both builds agree to
   * the byte: URL, field names and values count; reaching the limit is over
   * it; the count restarts at headers-complete, so trailers have a limit of
   * their own.
   */
  #count(len: number): number {
    this.#headerBytes += len;
    if (this.#headerBytes >= this.#maxHeaderSize) {
      this.#overflow = true;
      this.#overflowInUrl = this.#lastPart === 'none' && !this.#inTrailers;
      return -1;
    }
    return 0;
  }

  onUrl(chunk: Buffer, start: number, len: number): number {
    if (this.#trace !== null) this.#traceSpan('url', chunk, start, len);
    this.#url += chunk.latin1Slice(start, start + len);
    // The byte after the span is llhttp's delimiter: SP before a version, a
    // line end for HTTP/0.9. A CR counts only with its LF: "/data\r.json" is
    // a malformed line, not an HTTP/0.9 request, and the LF may be in the next read.
    const end = start + len;
    if (chunk[end] === 0x0a || (chunk[end] === 0x0d && chunk[end + 1] === 0x0a)) this.#http09 = true;
    else if (chunk[end] === 0x0d && end + 1 === chunk.length) this.#http09Cr = true;
    return this.#count(len);
  }

  onHeaderField(chunk: Buffer, start: number, len: number): number {
    if (this.#trace !== null) {
      // The last chunk's line ("0", after the data's CRLF) reaches no callback: it ends where the trailers begin.
      if (this.#inTrailers && this.#inChunkedBody && start > this.#mark)
        this.#traceSpan('chunk_line', chunk, this.#mark, start - this.#mark);
      this.#traceSpan(this.#inTrailers ? 'trailer_field' : 'header_field', chunk, start, len);
    }
    if (this.#inTrailers) {
      this.#inChunkedBody = false; // trailers are bounded by the header limit
    } else {
      const text = chunk.latin1Slice(start, start + len);
      if (this.#lastPart === 'field') {
        const i = this.#rawHeaders.length - 1;
        this.#rawHeaders[i] += text;
      } else {
        this.#rawHeaders.push(text);
      }
    }
    this.#lastPart = 'field';
    return this.#count(len);
  }

  onHeaderValue(chunk: Buffer, start: number, len: number): number {
    if (this.#trace !== null) this.#traceSpan(this.#inTrailers ? 'trailer_value' : 'header_value', chunk, start, len);
    if (!this.#inTrailers) {
      const text = chunk.latin1Slice(start, start + len);
      if (this.#lastPart === 'value') {
        const i = this.#rawHeaders.length - 1;
        this.#rawHeaders[i] += text;
      } else {
        this.#rawHeaders.push(text);
      }
    }
    this.#lastPart = 'value';
    return this.#count(len);
  }

  onHeadersComplete(upgrade: boolean, keepAlive: boolean): number {
    const lib = this.#lib;
    const raw = this.#rawHeaders;
    // An empty value leaves no value span: keep the list in pairs.
    if (raw.length % 2 === 1) raw.push('');
    let chunked = false;
    for (let i = 0; i < raw.length; i += 2) {
      raw[i + 1] = trimTrailingWhitespace(raw[i + 1] as string);
      const name = raw[i] as string;
      if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') chunked = true;
    }
    const head: RequestHead = {
      method: methodName(lib.llhttp_get_method(this.#ptr)),
      url: this.#url,
      versionMajor: lib.llhttp_get_http_major(this.#ptr),
      versionMinor: lib.llhttp_get_http_minor(this.#ptr),
      rawHeaders: raw,
      keepAlive,
      upgrade,
    };
    this.#inTrailers = true;
    this.#awaitingHead = false;
    this.#headerBytes = 0;
    // The head is the sink's now; an idle keep-alive connection keeps nothing of it.
    this.#url = '';
    this.#rawHeaders = [];
    this.#sink.onRequestHead(head);
    if (!chunked) {
      if (this.#trace === null) return 0;
      return this.#pauseToTrace('headers_complete', `${requestLine(head)}, keep-alive ${keepAlive}`);
    }
    if (this.#trace !== null) {
      this.#traced = {
        callback: 'headers_complete',
        detail: `${requestLine(head)}, chunked body, keep-alive ${keepAlive}`,
      };
    }
    // Stop for a moment to learn where the head ends: chunk lines are counted from there.
    this.#inChunkedBody = true;
    this.#lineBytes = 0;
    this.#pause = 'chunkedHead';
    return ERR_PAUSED;
  }

  onBody(chunk: Buffer, start: number, len: number): number {
    if (this.#trace !== null) {
      // A chunked body's size lines reach no callback: what lies between two data spans is one.
      if (this.#inChunkedBody && start > this.#mark)
        this.#traceSpan('chunk_line', chunk, this.#mark, start - this.#mark);
      this.#trace(this.#inChunkedBody ? 'chunk_data' : 'body', this.#done + start, len, null);
    }
    if (this.#countLine(chunk, start)) return -1;
    this.#lineBytes = 0;
    this.#mark = start + len;
    this.#sink.onRequestBody(chunk.subarray(start, start + len));
    return 0;
  }

  onMessageComplete(): number {
    this.#lastChunkLine = this.#inChunkedBody;
    this.#inChunkedBody = false;
    // The sink hears of the end once execute() has checked the last chunk line.
    this.#pause = 'messageEnd';
    return ERR_PAUSED;
  }
}
