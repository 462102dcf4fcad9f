import { NativeParser, nativeParserAvailable } from './native';
import type { ParserKind, ParserOptions, ParserSink, RequestParser } from './types';
import { WasmParser } from './wasm';

export type {
  ExecStatus,
  ParseError,
  ParserKind,
  ParserOptions,
  ParserSink,
  ParserTrace,
  RequestHead,
  RequestParser,
} from './types';
export { HEADER_OVERFLOW } from './types';

/** The build that will actually run for `wanted`: native falls back to wasm when Node lacks it. */
export function effectiveParserKind(wanted: ParserKind): ParserKind {
  return wanted === 'native' && !nativeParserAvailable() ? 'wasm' : wanted;
}

export function createParser(kind: ParserKind, sink: ParserSink, options: ParserOptions): RequestParser {
  return effectiveParserKind(kind) === 'native' ? new NativeParser(sink, options) : new WasmParser(sink, options);
}

/** llhttp's version inside the wasm build is not exported; Node reports its own. */
export function llhttpVersions(): { native: string | undefined; wasm: string } {
  return { native: process.versions['llhttp'], wasm: 'undici@' + undiciVersion() };
}

function undiciVersion(): string {
  try {
    return (require('undici/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
