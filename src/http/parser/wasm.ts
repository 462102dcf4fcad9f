// llhttp compiled to WebAssembly, as shipped inside undici@7 (pinned exactly in
// package.json: the deep require paths below are not a public API).
// Driven the way undici's client-h1.js drives it: one shared instance, one
// synchronous llhttp_execute at a time, the "current parser" in module state.

import { HEADER_OVERFLOW, URL_OVERFLOW } from './types';
import type { ExecStatus, ParseError, ParserOptions, ParserSink, RequestHead, RequestParser } from './types';

interface LlhttpExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_resume(p: number): void;
  llhttp_resume_after_upgrade(p: number): void;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_get_error_pos(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_errno_name(err: number): number;
}

interface LlhttpConstants {
  ERROR: Record<string, number>;
  TYPE: Record<string, number>;
  METHODS: Record<string, number>;
}

declare global {
  interface Buffer {
    /** Undocumented but stable since Node 0.x; ~20% faster than toString('latin1', …). */
    latin1Slice(start: number, end: number): string;
  }
}

const constants = require('undici/lib/llhttp/constants.js') as LlhttpConstants;
const ERR_OK = constants.ERROR['OK'] ?? 0;
const ERR_PAUSED = constants.ERROR['PAUSED'] ?? 21;
const ERR_PAUSED_UPGRADE = constants.ERROR['PAUSED_UPGRADE'] ?? 22;
const TYPE_REQUEST = constants.TYPE['REQUEST'] ?? 1;

const METHOD_NAMES: string[] = [];
for (const [name, id] of Object.entries(constants.METHODS)) METHOD_NAMES[id] = name;

let llhttp: LlhttpExports | null = null;
let current: WasmParser | null = null;
/** The JS chunk whose bytes sit at `loadedPtr` in wasm memory. */
let loadedChunk: Buffer | null = null;
let loadedPtr = 0;
let inputPtr = 0;
let inputSize = 0;

function instantiate(): LlhttpExports {
  let mod: WebAssembly.Module | null = null;
  try {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Uint8Array<ArrayBuffer>);
  } catch {
    // No SIMD on this CPU/engine: the portable build parses the same grammar.
  }
  mod ??= new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Uint8Array<ArrayBuffer>);
  const span =
    (handler: (p: WasmParser, chunk: Buffer) => number) =>
    (_p: number, at: number, len: number): number => {
      const parser = current as WasmParser;
      const chunk = loadedChunk as Buffer;
      const start = at - loadedPtr;
      return handler(parser, chunk.subarray(start, start + len));
    };
  const instance = new WebAssembly.Instance(mod, {
    env: {
      wasm_on_message_begin: () => (current as WasmParser).onMessageBegin(),
      wasm_on_url: (_p: number, at: number, len: number): number => {
        const chunk = loadedChunk as Buffer;
        const start = at - loadedPtr;
        // The byte after the span is llhttp's delimiter: SP before a version, CR/LF for HTTP/0.9.
        return (current as WasmParser).onUrl(chunk.subarray(start, start + len), chunk[start + len]);
      },
      wasm_on_status: () => 0,
      wasm_on_header_field: span((p, b) => p.onHeaderField(b)),
      wasm_on_header_value: span((p, b) => p.onHeaderValue(b)),
      wasm_on_headers_complete: (_p: number, _status: number, upgrade: number, keepAlive: number) =>
        (current as WasmParser).onHeadersComplete(upgrade === 1, keepAlive === 1),
      wasm_on_body: span((p, b) => p.onBody(b)),
      wasm_on_message_complete: () => (current as WasmParser).onMessageComplete(),
    },
  });
  return instance.exports as unknown as LlhttpExports;
}

function cString(lib: LlhttpExports, ptr: number): string {
  if (ptr === 0) return '';
  const bytes = new Uint8Array(lib.memory.buffer, ptr);
  const end = bytes.indexOf(0);
  return Buffer.from(lib.memory.buffer, ptr, end < 0 ? 0 : end).toString('latin1');
}

/** Copy `chunk` into wasm memory unless it is a slice of the chunk already there. */
function load(lib: LlhttpExports, chunk: Buffer): number {
  const prev = loadedChunk;
  if (
    prev !== null &&
    chunk.buffer === prev.buffer &&
    chunk.byteOffset >= prev.byteOffset &&
    chunk.byteOffset + chunk.length <= prev.byteOffset + prev.length
  ) {
    // Resuming after a pause: the tail is already in wasm memory (no O(n²) re-copy).
    const ptr = loadedPtr + (chunk.byteOffset - prev.byteOffset);
    loadedChunk = chunk;
    loadedPtr = ptr;
    return ptr;
  }
  if (chunk.length > inputSize) {
    if (inputPtr !== 0) lib.free(inputPtr);
    inputSize = Math.ceil(chunk.length / 4096) * 4096;
    inputPtr = lib.malloc(inputSize);
  }
  new Uint8Array(lib.memory.buffer, inputPtr, chunk.length).set(chunk);
  loadedChunk = chunk;
  loadedPtr = inputPtr;
  return inputPtr;
}

type HeaderPart = 'none' | 'field' | 'value';

export class WasmParser implements RequestParser {
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

  constructor(sink: ParserSink, options: ParserOptions) {
    llhttp ??= instantiate();
    this.#lib = llhttp;
    this.#sink = sink;
    this.#maxHeaderSize = options.maxHeaderSize;
    // Lenient flags stay at their default, off: each one reopens a request
    // smuggling class (obs-fold CVE-2024-27982, bare LF CVE-2022-32214, …).
    this.#ptr = this.#lib.llhttp_alloc(TYPE_REQUEST);
  }

  execute(chunk: Buffer): ExecStatus {
    const lib = this.#lib;
    // Bytes of `chunk` parsed by earlier rounds (after an upgrade): offsets
    // reported to the caller are into the chunk it gave, not into the rest.
    let done = 0;
    let rest = chunk;
    for (;;) {
      const base = load(lib, rest);
      let ret: number;
      current = this;
      try {
        ret = lib.llhttp_execute(this.#ptr, base, rest.length);
      } finally {
        current = null;
      }
      if (ret === ERR_OK) {
        this.offset = chunk.length;
        return 'ok';
      }
      const offset = done + lib.llhttp_get_error_pos(this.#ptr) - base;
      if (ret === ERR_PAUSED) {
        this.offset = offset;
        return 'paused';
      }
      if (ret === ERR_PAUSED_UPGRADE) {
        // RFC 9110 §7.8: a server may ignore Upgrade; keep parsing HTTP/1.1.
        lib.llhttp_resume_after_upgrade(this.#ptr);
        done = offset;
        rest = chunk.subarray(offset);
        continue;
      }
      this.offset = offset;
      this.error = this.#describe(ret, offset);
      return 'error';
    }
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
    current = this;
    let ret: number;
    try {
      ret = this.#lib.llhttp_finish(this.#ptr);
    } finally {
      current = null;
    }
    return ret === ERR_OK || ret === ERR_PAUSED ? null : this.#describe(ret, 0);
  }

  destroy(): void {
    if (this.#ptr !== 0) this.#lib.llhttp_free(this.#ptr);
    this.#ptr = 0;
  }

  #describe(ret: number, offset: number): ParseError {
    if (this.#overflow)
      return { code: HEADER_OVERFLOW, reason: this.#overflowInUrl ? URL_OVERFLOW : 'Header overflow', offset };
    const lib = this.#lib;
    return {
      code: cString(lib, lib.llhttp_errno_name(ret)),
      reason: cString(lib, lib.llhttp_get_error_reason(this.#ptr)),
      offset,
    };
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
    this.#sink.onRequestBegin();
    return 0;
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

  onUrl(b: Buffer, delimiter: number | undefined): number {
    this.#url += b.latin1Slice(0, b.length);
    if (delimiter === 0x0d || delimiter === 0x0a) this.#http09 = true;
    return this.#count(b.length);
  }

  onHeaderField(b: Buffer): number {
    if (!this.#inTrailers) {
      const text = b.latin1Slice(0, b.length);
      if (this.#lastPart === 'field') {
        const i = this.#rawHeaders.length - 1;
        this.#rawHeaders[i] += text;
      } else {
        this.#rawHeaders.push(text);
      }
    }
    this.#lastPart = 'field';
    return this.#count(b.length);
  }

  onHeaderValue(b: Buffer): number {
    if (!this.#inTrailers) {
      const text = b.latin1Slice(0, b.length);
      if (this.#lastPart === 'value') {
        const i = this.#rawHeaders.length - 1;
        this.#rawHeaders[i] += text;
      } else {
        this.#rawHeaders.push(text);
      }
    }
    this.#lastPart = 'value';
    return this.#count(b.length);
  }

  onHeadersComplete(upgrade: boolean, keepAlive: boolean): number {
    const lib = this.#lib;
    const raw = this.#rawHeaders;
    // An empty value leaves no value span: keep the list in pairs.
    if (raw.length % 2 === 1) raw.push('');
    for (let i = 1; i < raw.length; i += 2) raw[i] = trimTrailingWhitespace(raw[i] as string);
    const head: RequestHead = {
      method: METHOD_NAMES[lib.llhttp_get_method(this.#ptr)] ?? 'UNKNOWN',
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
    return 0;
  }

  onBody(b: Buffer): number {
    this.#sink.onRequestBody(b);
    return 0;
  }

  onMessageComplete(): number {
    return this.#sink.onRequestEnd() ? ERR_PAUSED : 0;
  }
}

/** RFC 9110 §5.5: OWS around a field value is not part of it. llhttp drops the leading part. */
function trimTrailingWhitespace(value: string): string {
  let end = value.length;
  while (end > 0) {
    const c = value.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  return end === value.length ? value : value.slice(0, end);
}
