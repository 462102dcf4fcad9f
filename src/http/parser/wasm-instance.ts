// The one llhttp WebAssembly instance (undici@7's build) and what lives beside
// it: the parser whose execute() is running (llhttp's callbacks go to it), and
// the input buffer in wasm memory. wasm.ts adapts it to porta's RequestParser.

import { LLHTTP } from './methods';

export interface LlhttpExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_resume(p: number): void;
  llhttp_resume_after_upgrade(p: number): void;
  llhttp_set_lenient_version(p: number, enabled: number): void;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_get_error_pos(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_errno_name(err: number): number;
}

export const ERR_OK = LLHTTP.ERROR['OK'] ?? 0;
export const ERR_PAUSED = LLHTTP.ERROR['PAUSED'] ?? 21;
export const ERR_PAUSED_UPGRADE = LLHTTP.ERROR['PAUSED_UPGRADE'] ?? 22;
export const TYPE_REQUEST = LLHTTP.TYPE['REQUEST'] ?? 1;
/** What llhttp calls back into: the parser being executed. */
export interface LlhttpCallbacks {
  onMessageBegin(): number;
  onUrl(chunk: Buffer, start: number, len: number): number;
  onHeaderField(chunk: Buffer, start: number, len: number): number;
  onHeaderValue(chunk: Buffer, start: number, len: number): number;
  onHeadersComplete(upgrade: boolean, keepAlive: boolean): number;
  onBody(chunk: Buffer, start: number, len: number): number;
  onMessageComplete(): number;
}

let llhttp: LlhttpExports | null = null;
let current: LlhttpCallbacks | null = null;
/** The JS chunk whose bytes sit at `loadedPtr` in wasm memory. */
let loadedChunk: Buffer | null = null;
let loadedPtr = 0;
let inputPtr = 0;
let inputSize = 0;
/** A view of all of wasm memory, made again only when the memory grew (its old ArrayBuffer is then detached). */
let memoryView: Uint8Array | null = null;

/** The shared instance, made the first time a parser needs it. */
export function llhttpInstance(): LlhttpExports {
  llhttp ??= instantiate();
  return llhttp;
}

/** The parser llhttp's callbacks go to during one execute (null between). */
export function setCurrent(parser: LlhttpCallbacks | null): void {
  current = parser;
}

function instantiate(): LlhttpExports {
  let mod: WebAssembly.Module | null = null;
  try {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Uint8Array<ArrayBuffer>);
  } catch {
    // No SIMD on this CPU/engine: the portable build parses the same grammar.
  }
  mod ??= new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Uint8Array<ArrayBuffer>);
  // Spans arrive as pointers into wasm memory; `start` is the offset in the JS chunk.
  const span =
    (handler: (p: LlhttpCallbacks, chunk: Buffer, start: number, len: number) => number) =>
    (_p: number, at: number, len: number): number =>
      handler(current as LlhttpCallbacks, loadedChunk as Buffer, at - loadedPtr, len);
  const instance = new WebAssembly.Instance(mod, {
    env: {
      wasm_on_message_begin: () => (current as LlhttpCallbacks).onMessageBegin(),
      wasm_on_url: span((p, chunk, start, len) => p.onUrl(chunk, start, len)),
      wasm_on_status: () => 0,
      wasm_on_header_field: span((p, chunk, start, len) => p.onHeaderField(chunk, start, len)),
      wasm_on_header_value: span((p, chunk, start, len) => p.onHeaderValue(chunk, start, len)),
      wasm_on_headers_complete: (_p: number, _status: number, upgrade: number, keepAlive: number) =>
        (current as LlhttpCallbacks).onHeadersComplete(upgrade === 1, keepAlive === 1),
      wasm_on_body: span((p, chunk, start, len) => p.onBody(chunk, start, len)),
      wasm_on_message_complete: () => (current as LlhttpCallbacks).onMessageComplete(),
    },
  });
  return instance.exports as unknown as LlhttpExports;
}

export function cString(lib: LlhttpExports, ptr: number): string {
  if (ptr === 0) return '';
  const bytes = new Uint8Array(lib.memory.buffer, ptr);
  const end = bytes.indexOf(0);
  return Buffer.from(lib.memory.buffer, ptr, Math.max(end, 0)).toString('latin1');
}

/** Copy `chunk` into wasm memory unless it is a slice of the chunk already there. */
export function loadInput(lib: LlhttpExports, chunk: Buffer): number {
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
  const buffer = lib.memory.buffer;
  if (memoryView === null || memoryView.buffer !== buffer) memoryView = new Uint8Array(buffer);
  memoryView.set(chunk, inputPtr);
  loadedChunk = chunk;
  loadedPtr = inputPtr;
  return inputPtr;
}
