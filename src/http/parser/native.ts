// Node's own llhttp (C, the one node:http runs) through the internal binding
// `_http_common.HTTPParser`. Undocumented and deprecated on paper (DEP0199), so
// it lives in this one file; index.ts falls back to the wasm build without it.
//
// Its message-complete callback cannot pause. Only headers-complete can, by
// returning HPE_PAUSED. So when the sink asks to pause at a message end, we
// pause after the *next* head instead, keep that head, and hand it over on
// resume(): the sink sees the same events in the same order as with wasm
// (onRequestBegin of the next message may arrive before execute() returns
// 'paused'; nothing else does).
//
// Upgrade/CONNECT. Node's binding reports no error at all while llhttp's
// `upgrade` field is set (`if (!parser_.upgrade && err != HPE_OK)` in
// node_http_parser.cc): it returns a byte count instead. llhttp sets that field
// at each head and clears it only at the next head, so after an Upgrade or
// CONNECT request every error (in its own chunked body, or in the request line
// and headers of the next request), every HPE_PAUSED and every EOF error would
// be invisible, and a short count with nothing parsed used to spin execute()
// forever. So at an upgrade head we stop llhttp (HPE_PAUSED, hidden but
// harmless), re-initialise it, and replay a synthetic head with the same
// framing (Content-Length / Transfer-Encoding, version, keep-alive) but no
// upgrade: llhttp then parses the body and everything after it exactly as
// the wasm build does after llhttp_resume_after_upgrade(), with errors visible.

import { HEADER_OVERFLOW, URL_OVERFLOW } from './types';
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
const EMPTY = Buffer.alloc(0);

/** llhttp's method ids (the wasm build's table): Node 20's list stops at PRI (34) and lacks QUERY (46). */
function llhttpMethodNames(): string[] {
  try {
    const { METHODS } = require('undici/lib/llhttp/constants.js') as { METHODS: Record<string, number> };
    const names: string[] = [];
    for (const [name, id] of Object.entries(METHODS)) names[id] = name;
    return names;
  } catch {
    return [];
  }
}

const METHOD_NAMES = llhttpMethodNames();

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
  readonly #maxHeaderSize: number;
  // Pieces of a head that arrived before headers-complete (long or split heads).
  #url = '';
  #rawHeaders: string[] = [];
  #pauseAtNextHead = false;
  #heldHead: RequestHead | null = null;
  /** An Upgrade/CONNECT head llhttp stopped at: its framing is still to be replayed (see top). */
  #upgradeHead: RequestHead | null = null;
  /** Replaying a synthetic head: its begin/head events are not the sink's business. */
  #muted = false;
  /** An error met inside resume(), which cannot return one: reported by the next execute(). */
  #deferred: ParseError | null = null;
  /**
   * Whether the request line has ended, for telling a too-long URL (414) from
   * too many header bytes (431). Node's binding does not say; a line end seen
   * since message-begin is the sign (approximate when a read holds the end of
   * one message and the start of the next).
   */
  #inHead = false;
  #lineEnded = false;
  /** The request line so far (its last bytes), or null when where it starts is unknown. */
  #lineText: string | null = null;
  #http09 = false;
  #completedDuringExecute = false;

  constructor(sink: ParserSink, options: ParserOptions) {
    if (binding === null) throw new Error('native llhttp binding (_http_common) is not available');
    const { HTTPParser, methods } = binding;
    this.#sink = sink;
    this.#methods = methods;
    this.#maxHeaderSize = options.maxHeaderSize;
    const parser = new HTTPParser();
    // Lenient flags 0: every one reopens a smuggling class (see wasm.ts).
    parser.initialize(HTTPParser.REQUEST, {}, options.maxHeaderSize, 0);
    parser[HTTPParser.kOnMessageBegin] = () => {
      this.#url = '';
      this.#rawHeaders = [];
      this.#inHead = true;
      this.#lineEnded = false;
      this.#lineText = this.#completedDuringExecute ? null : '';
      this.#http09 = false;
      if (!this.#muted) this.#sink.onRequestBegin();
    };
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      this.#rawHeaders.push(...headers);
      this.#url += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _statusMessage: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ): number => {
      this.#inHead = false;
      if (this.#muted) return 0;
      const head: RequestHead = {
        method: METHOD_NAMES[method] ?? this.#methods[method] ?? 'UNKNOWN',
        url: url ?? this.#url,
        versionMajor: major,
        versionMinor: minor,
        rawHeaders: headers ?? this.#rawHeaders,
        keepAlive,
        upgrade,
      };
      this.#url = '';
      this.#rawHeaders = [];
      if (upgrade) this.#upgradeHead = head;
      if (this.#pauseAtNextHead) {
        this.#heldHead = head;
        return HPE_PAUSED;
      }
      this.#sink.onRequestHead(head);
      // Stop here (Node hides this pause behind `upgrade`: execute() sees a count).
      return upgrade ? HPE_PAUSED : 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.#sink.onRequestBody(chunk);
    parser[HTTPParser.kOnMessageComplete] = () => {
      this.#completedDuringExecute = true;
      if (this.#sink.onRequestEnd()) this.#pauseAtNextHead = true;
    };
    parser[HTTPParser.kOnExecute] = () => undefined;
    this.#parser = parser;
  }

  /**
   * Node's binding does not show the request line before headers-complete, so
   * once llhttp has accepted a line, its end is looked at here: without
   * " HTTP/x.y" llhttp took it as HTTP/0.9. Only when the message is known to
   * start at the beginning of a read (no message ended earlier in it).
   */
  get awaitingHttp09Head(): boolean {
    return this.#inHead && this.#http09;
  }

  #watchRequestLine(chunk: Buffer, from: number): void {
    if (!this.#inHead || this.#lineEnded || this.#lineText === null) return;
    let start = from;
    if (this.#lineText === '') {
      while (start < chunk.length && (chunk[start] === 0x0d || chunk[start] === 0x0a)) start++; // skipped by llhttp
    }
    const lf = chunk.indexOf(0x0a, start);
    if (lf < 0) {
      this.#lineText =
        this.#lineText.length < 256
          ? this.#lineText + chunk.latin1Slice(start, Math.min(chunk.length, start + 256))
          : this.#lineText;
      return;
    }
    this.#lineEnded = true;
    const line = (this.#lineText + chunk.latin1Slice(start, lf)).slice(-16);
    this.#http09 = !/ [A-Z]+\/\d\.\d\r?$/.test(line);
  }

  execute(chunk: Buffer): ExecStatus {
    if (this.#deferred !== null) return this.#fail(this.#deferred);
    // `base`: bytes of `chunk` already parsed by earlier rounds of this loop.
    let base = 0;
    for (;;) {
      this.#completedDuringExecute = false;
      const ret = this.#parser.execute(base === 0 ? chunk : chunk.subarray(base));
      if (typeof ret === 'number') {
        const at = base + ret;
        if (this.#upgradeHead !== null) {
          // llhttp stopped at an Upgrade/CONNECT head (see top).
          if (this.#heldHead !== null) {
            this.offset = at;
            return 'paused'; // the replay happens in resume(), after the head is handed over
          }
          const err = this.#replayUpgrade(at);
          if (err !== null) return this.#fail(err);
          base = at;
          continue;
        }
        if (at >= chunk.length) {
          this.offset = chunk.length;
          this.#watchRequestLine(chunk, base);
          return 'ok';
        }
        // A count short of the chunk with no error and no upgrade head: not a
        // state this adapter knows. Fail rather than loop.
        return this.#fail({ code: 'HPE_INTERNAL', reason: 'native llhttp stopped without an error', offset: at });
      }
      const at = base + (ret.bytesParsed ?? 0);
      if (ret.code === 'HPE_PAUSED') {
        this.offset = at;
        return 'paused';
      }
      const inUrl =
        ret.code === HEADER_OVERFLOW && this.#inHead && !this.#lineEnded && chunk.subarray(base, at).indexOf(0x0a) < 0;
      return this.#fail({
        code: ret.code ?? 'HPE_INTERNAL',
        reason: ret.code === HEADER_OVERFLOW ? (inUrl ? URL_OVERFLOW : 'Header overflow') : (ret.reason ?? ret.message),
        offset: at,
      });
    }
  }

  #fail(error: ParseError): ExecStatus {
    this.#deferred = null;
    this.offset = error.offset;
    this.error = error;
    return 'error';
  }

  resume(): void {
    this.#pauseAtNextHead = false;
    const held = this.#heldHead;
    if (held === null) return;
    this.#heldHead = null;
    this.#parser.resume();
    this.#sink.onRequestHead(held);
    if (this.#upgradeHead !== null) {
      this.#deferred = this.#replayUpgrade(0);
      return;
    }
    // A body-less message ends without another byte: let llhttp get there now,
    // as wasm does, or a paused head at the very end of a read would wait for
    // the next read to end (and a pipelining client would wait forever).
    const ret = this.#parser.execute(EMPTY);
    if (typeof ret !== 'number' && ret.code !== 'HPE_PAUSED') {
      this.#deferred = {
        code: ret.code ?? 'HPE_INTERNAL',
        reason: ret.code === HEADER_OVERFLOW ? 'Header overflow' : (ret.reason ?? ret.message),
        offset: 0,
      };
    }
  }

  /**
   * Re-initialise llhttp after an Upgrade/CONNECT head and replay that head's
   * framing without the upgrade, so that Node reports errors again. A body-less
   * message ends here (the sink's onRequestEnd runs).
   */
  #replayUpgrade(offset: number): ParseError | null {
    const head = this.#upgradeHead as RequestHead;
    this.#upgradeHead = null;
    if (head.method !== 'CONNECT') {
      // llhttp frames the body from these alone (both together were refused).
      let framing = '';
      for (let i = 0; i < head.rawHeaders.length; i += 2) {
        const name = (head.rawHeaders[i] as string).toLowerCase();
        if (name === 'transfer-encoding' || name === 'content-length') {
          framing += `${name}: ${head.rawHeaders[i + 1] as string}\r\n`;
        }
      }
      if (framing !== '') {
        const err = this.#replay(head, framing);
        if (err === null) return null;
        // Transfer-Encoding without a final `chunked`: a plain request is refused
        // for it, an upgrade request has no body (llhttp__after_headers_complete).
        if (err !== 'HPE_INVALID_TRANSFER_ENCODING') {
          return { code: 'HPE_INTERNAL', reason: `upgrade replay failed: ${err}`, offset };
        }
      }
    }
    const err = this.#replay(head, '');
    return err === null ? null : { code: 'HPE_INTERNAL', reason: `upgrade replay failed: ${err}`, offset };
  }

  /** Fresh llhttp, fed a synthetic head. Returns the error code, if any. */
  #replay(head: RequestHead, framing: string): string | null {
    const { HTTPParser } = binding as HttpCommon;
    const parser = this.#parser;
    parser.initialize(HTTPParser.REQUEST, {}, this.#maxHeaderSize, 0);
    // llhttp_should_keep_alive() decides what follows the message: keep it.
    const v11 = head.versionMajor > 0 && head.versionMinor > 0;
    const connection =
      v11 === head.keepAlive ? '' : head.keepAlive ? 'connection: keep-alive\r\n' : 'connection: close\r\n';
    const method = head.method === 'CONNECT' || head.method === 'UNKNOWN' ? 'GET' : head.method;
    const text = `${method} / HTTP/${head.versionMajor}.${head.versionMinor}\r\n${framing}${connection}\r\n`;
    this.#muted = true;
    let ret: number | NativeParseError;
    try {
      ret = parser.execute(Buffer.from(text, 'latin1'));
    } finally {
      this.#muted = false;
    }
    return typeof ret === 'number' ? null : (ret.code ?? 'HPE_INTERNAL');
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
