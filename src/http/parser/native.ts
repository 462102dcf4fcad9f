// Node's own llhttp (C, the one node:http runs) through the internal binding
// `_http_common.HTTPParser`. Undocumented and deprecated on paper (DEP0199), so
// it lives in this one file; index.ts falls back to the wasm build without it.
//
// Its message-complete callback cannot pause. Only headers-complete can, by
// returning HPE_PAUSED. So when the sink asks to pause at a message end, we
// pause after the *next* head instead, keep that head, and hand it over on
// resume(): the sink sees the same events in the same order as with wasm.

import { HEADER_OVERFLOW } from './types';
import type { ExecStatus, ParseError, ParserOptions, ParserSink, RequestHead, RequestParser } from './types';

interface NativeParseError extends Error {
  code?: string;
  reason?: string;
  bytesParsed?: number;
}

/** The slice of the internal binding we use, typed once here. */
interface NativeHTTPParser {
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

interface HttpCommon {
  HTTPParser: NativeHTTPParserClass;
  methods: string[];
}

const HPE_PAUSED = 21;

function loadBinding(): HttpCommon | null {
  try {
    const common = require('_http_common') as Partial<HttpCommon>;
    if (typeof common.HTTPParser !== 'function' || !Array.isArray(common.methods)) return null;
    return common as HttpCommon;
  } catch {
    return null;
  }
}

const binding = loadBinding();

export function nativeParserAvailable(): boolean {
  return binding !== null;
}

export class NativeParser implements RequestParser {
  readonly kind = 'native' as const;
  offset = 0;
  error: ParseError | null = null;

  readonly #parser: NativeHTTPParser;
  readonly #sink: ParserSink;
  readonly #methods: string[];
  // Pieces of a head that arrived before headers-complete (long or split heads).
  #url = '';
  #rawHeaders: string[] = [];
  #pauseAtNextHead = false;
  #heldHead: RequestHead | null = null;

  constructor(sink: ParserSink, options: ParserOptions) {
    if (binding === null) throw new Error('native llhttp binding (_http_common) is not available');
    const { HTTPParser, methods } = binding;
    this.#sink = sink;
    this.#methods = methods;
    const parser = new HTTPParser();
    // Lenient flags 0: every one reopens a smuggling class (see wasm.ts).
    parser.initialize(HTTPParser.REQUEST, {}, options.maxHeaderSize, 0);
    parser[HTTPParser.kOnMessageBegin] = () => {
      this.#url = '';
      this.#rawHeaders = [];
      this.#sink.onRequestBegin();
    };
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      this.#rawHeaders.push(...headers);
      this.#url += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number, minor: number, headers: string[] | undefined, method: number,
      url: string | undefined, _status: unknown, _statusMessage: unknown,
      upgrade: boolean, keepAlive: boolean,
    ): number => {
      const head: RequestHead = {
        method: this.#methods[method] ?? 'UNKNOWN',
        url: url ?? this.#url,
        versionMajor: major,
        versionMinor: minor,
        rawHeaders: headers ?? this.#rawHeaders,
        keepAlive,
        upgrade,
      };
      this.#url = '';
      this.#rawHeaders = [];
      if (this.#pauseAtNextHead) {
        this.#heldHead = head;
        return HPE_PAUSED;
      }
      this.#sink.onRequestHead(head);
      return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.#sink.onRequestBody(chunk);
    parser[HTTPParser.kOnMessageComplete] = () => {
      if (this.#sink.onRequestEnd()) this.#pauseAtNextHead = true;
    };
    parser[HTTPParser.kOnExecute] = () => undefined;
    this.#parser = parser;
  }

  execute(chunk: Buffer): ExecStatus {
    for (;;) {
      const ret = this.#parser.execute(chunk);
      if (typeof ret === 'number') {
        if (ret >= chunk.length) {
          this.offset = chunk.length;
          return 'ok';
        }
        // A short count without error: Node stopped after an Upgrade/CONNECT
        // message and already resumed; keep parsing HTTP (RFC 9110 §7.8).
        chunk = chunk.subarray(ret);
        continue;
      }
      this.offset = ret.bytesParsed ?? 0;
      if (ret.code === 'HPE_PAUSED') return 'paused';
      this.error = {
        code: ret.code ?? 'HPE_INTERNAL',
        reason: ret.code === HEADER_OVERFLOW ? 'Header overflow' : (ret.reason ?? ret.message),
        offset: this.offset,
      };
      return 'error';
    }
  }

  resume(): void {
    this.#pauseAtNextHead = false;
    const held = this.#heldHead;
    if (held === null) return;
    this.#heldHead = null;
    this.#parser.resume();
    this.#sink.onRequestHead(held);
  }

  finish(): ParseError | null {
    const ret = this.#parser.finish();
    if (ret === undefined) return null;
    return { code: ret.code ?? 'HPE_INTERNAL', reason: ret.reason ?? ret.message, offset: 0 };
  }

  destroy(): void {
    this.#parser.close();
    this.#parser.free();
  }
}
