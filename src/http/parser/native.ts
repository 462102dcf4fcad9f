// Node's own llhttp (C, the one node:http runs) through the internal binding
// `_http_common.HTTPParser`. Undocumented and deprecated on paper (DEP0199), so
// it lives in this one file; index.ts falls back to the wasm build without it.
//
// Its message-complete callback cannot pause. Only headers-complete can, by
// returning HPE_PAUSED. So at a message end llhttp reads on: the next
// message's begin and head are held back here, llhttp is paused at that head,
// and an error met while reading ahead is kept. execute() still returns
// 'paused' for the message that ended, and the next execute() after resume()
// delivers what was held, in order, before parsing anything new: the
// connection sees exactly the events, in the order and at the positions,
// that the wasm build gives (see the contract in types.ts).
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

import {
  binding,
  CALLBACK_SLOTS,
  type HttpCommon,
  lenientFlags,
  NO_BYTES,
  type NativeHTTPParser,
  type NativeParseError,
  nativeError,
  putBack,
  replayText,
  takeParser,
  upgradeFraming,
} from './native-binding';

import { byteBefore, following, priorAfter, requestLine } from './common';
import { methodName } from './methods';
import { LINE_TAIL, lineStart } from './native-line';
import { HEADER_OVERFLOW } from './types';
import type {
  ExecStatus,
  ParseError,
  ParserOptions,
  ParserSink,
  ParserTrace,
  RequestHead,
  RequestParser,
} from './types';

export { nativeParserAvailable } from './native-binding';

const HPE_PAUSED = 21;
const EMPTY = Buffer.alloc(0);

export class NativeParser implements RequestParser {
  readonly kind = 'native' as const;
  offset = 0;
  error: ParseError | null = null;

  readonly #parser: NativeHTTPParser;
  /** Given back (destroy()): the C++ parser may be another adapter's now. */
  #destroyed = false;
  readonly #sink: ParserSink;
  readonly #maxHeaderSize: number;
  // Pieces of a head that arrived before headers-complete (long or split heads).
  #url = '';
  #rawHeaders: string[] = [];
  // Reading ahead after a message end (see top): what is held until resume().
  /** A message ended and resume() has not been called: everything new is held. */
  #ended = false;
  /** resume() was called: the next execute() delivers what was held first. */
  #resumed = false;
  #heldBegin = false;
  #heldHead: RequestHead | null = null;
  /** An error found while reading ahead (or while delivering a held head): reported by the next execute(). */
  #deferred: ParseError | null = null;
  /** An Upgrade/CONNECT head llhttp stopped at: its framing is still to be replayed (see top). */
  #upgradeHead: RequestHead | null = null;
  /** Replaying a synthetic head: its begin/head events are not the sink's business. */
  #muted = false;
  /**
   * Whether the request line has ended, for telling a too-long URL (414) from
   * too many header bytes (431). Node's binding does not say; a line end seen
   * since message-begin is the sign (approximate when a read holds the end of
   * one message and the start of the next).
   */
  #inHead = false;
  #lineEnded = false;
  /** The request line so far (its last LINE_TAIL bytes), or null when it began in this read after another message. */
  #lineText: string | null = null;
  #http09 = false;
  /** Where the current request line starts was estimated (see lineStart in native-line.ts). */
  #lineGuessed = false;
  #completedDuringExecute = false;
  /** The last bytes of the previous read: an empty line may straddle two reads. */
  #previousTail: Buffer = EMPTY;
  /** The byte before the next chunk's first (ParseError.before), -1 before the first. */
  #prior = -1;
  #tail: Buffer = EMPTY;
  /**
   * --trace. Node's binding reports no span offsets and reads ahead of the
   * events it delivers, so this build tells the events without an offset
   * (NaN); the wasm build has them all.
   */
  #trace: ParserTrace | null = null;

  #begin(): void {
    this.#trace = this.#sink.parserTrace ?? null; // asked again for each message (a flow page may open)
    this.#trace?.('message_begin', Number.NaN, 0, null);
    this.#sink.onRequestBegin();
  }

  #head(head: RequestHead): void {
    this.#trace?.('headers_complete', Number.NaN, 0, `${requestLine(head)}, ${head.rawHeaders.length / 2} fields`);
    this.#sink.onRequestHead(head);
  }

  constructor(sink: ParserSink, options: ParserOptions) {
    if (binding === null) throw new Error('native llhttp binding (_http_common) is not available');
    const { HTTPParser } = binding;
    this.#sink = sink;
    this.#maxHeaderSize = options.maxHeaderSize;
    // initialize() leaves nothing of an earlier use: llhttp_init, the lenient
    // flags, the header counts and the async resource are all set afresh.
    const parser = takeParser(HTTPParser);
    parser.initialize(HTTPParser.REQUEST, {}, options.maxHeaderSize, lenientFlags());
    parser[HTTPParser.kOnMessageBegin] = () => {
      this.#url = '';
      this.#rawHeaders = [];
      this.#inHead = true;
      this.#lineEnded = false;
      this.#lineText = this.#completedDuringExecute ? null : '';
      this.#lineGuessed = false;
      this.#http09 = false;
      if (this.#muted) return;
      if (this.#ended) this.#heldBegin = true;
      else this.#begin();
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
        method: methodName(method),
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
      if (this.#ended) {
        this.#heldHead = head;
        return HPE_PAUSED;
      }
      this.#head(head);
      // Stop here (Node hides this pause behind `upgrade`: execute() sees a count).
      return upgrade ? HPE_PAUSED : 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      this.#trace?.('body', Number.NaN, chunk.length, null);
      this.#sink.onRequestBody(chunk);
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      this.#completedDuringExecute = true;
      this.#ended = true;
      this.#trace?.('message_complete', Number.NaN, 0, null);
      this.#sink.onRequestEnd();
    };
    this.#trace = sink.parserTrace ?? null;
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
    return this.#inHead && this.#http09 && !this.#ended;
  }

  /**
   * After a read: has the request line ended, and did it have a version? A
   * line whose start was only estimated never counts as HTTP/0.9 (a wrong
   * guess would refuse a good request); the head timeout answers such a one.
   */
  #watchRequestLine(chunk: Buffer, base: number): void {
    if (!this.#inHead || this.#lineEnded) return;
    if (this.#lineText === null) this.#lineGuessed = true;
    const from = lineStart(chunk, base, chunk.length, this.#lineText, this.#previousTail);
    const lf = chunk.indexOf(0x0a, from);
    const seen = this.#lineText ?? '';
    if (lf < 0) {
      // Only the line's end matters: its last bytes are enough.
      this.#lineText = (seen + chunk.latin1Slice(from, chunk.length)).slice(-LINE_TAIL);
      return;
    }
    this.#lineEnded = true;
    const line = (seen + chunk.latin1Slice(from, lf)).slice(-LINE_TAIL);
    this.#http09 = !this.#lineGuessed && !/ [A-Z]+\/\d\.\d\r?$/.test(line);
  }

  execute(chunk: Buffer): ExecStatus {
    const status = this.#execute(chunk);
    this.#prior = priorAfter(chunk, status, this.offset, this.#prior);
    return status;
  }

  #execute(chunk: Buffer): ExecStatus {
    if (this.#resumed) {
      this.#resumed = false;
      this.#deliverHeld();
    }
    if (this.#deferred !== null) return this.#fail(this.#deferred);
    if (this.#ended) {
      // A message ended while delivering the held head (a bodiless one): stop before `chunk`.
      this.offset = 0;
      return 'paused';
    }
    // `base`: bytes of `chunk` already parsed by earlier rounds of this loop.
    let base = 0;
    this.#completedDuringExecute = false;
    this.#previousTail = this.#tail;
    this.#tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 3)));
    for (;;) {
      const bytes = base === 0 ? chunk : chunk.subarray(base);
      const ret = this.#parser.execute(bytes.length === 0 ? NO_BYTES : bytes);
      if (typeof ret === 'number') {
        const at = base + ret;
        if (this.#upgradeHead !== null) {
          // llhttp stopped at an Upgrade/CONNECT head (see top).
          if (this.#heldHead !== null) return this.#paused(at); // replayed once the held head is delivered
          const err = this.#replayUpgrade(chunk, at);
          if (err !== null) return this.#ended ? this.#defer(err, at) : this.#fail(err);
          base = at;
          continue;
        }
        if (at >= chunk.length) {
          this.#watchRequestLine(chunk, base);
          if (this.#ended) return this.#paused(chunk.length);
          this.offset = chunk.length;
          return 'ok';
        }
        // A count short of the chunk with no error and no upgrade head: not a
        // state this adapter knows. Fail rather than loop.
        return this.#fail({
          code: 'HPE_INTERNAL',
          reason: 'native llhttp stopped without an error',
          offset: at,
          following: following(chunk, at),
          before: byteBefore(chunk, at, this.#prior),
        });
      }
      const at = base + (ret.bytesParsed ?? 0);
      if (ret.code === 'HPE_PAUSED') return this.#paused(at); // at the held head
      // In the URL: the request line had not ended when the limit was reached.
      const inUrl =
        ret.code === HEADER_OVERFLOW &&
        this.#inHead &&
        !this.#lineEnded &&
        chunk.subarray(lineStart(chunk, base, at, this.#lineText, this.#previousTail), at).indexOf(0x0a) < 0;
      const error = nativeError(ret, at, following(chunk, at), byteBefore(chunk, at, this.#prior), inUrl);
      return this.#ended ? this.#defer(error, at) : this.#fail(error);
    }
  }

  #paused(at: number): 'paused' {
    this.offset = at;
    return 'paused';
  }

  /** An error past a message end: the message is reported ended first; the caller's rest starts at the error. */
  #defer(error: ParseError, at: number): 'paused' {
    this.#deferred = { ...error, offset: 0 };
    return this.#paused(at);
  }

  #fail(error: ParseError): 'error' {
    this.#deferred = null;
    this.offset = error.offset;
    this.error = error;
    return 'error';
  }

  resume(): void {
    this.#ended = false;
    this.#resumed = true;
  }

  /** After resume(): the held begin and head, in order, and what llhttp does next without a byte. */
  #deliverHeld(): void {
    if (this.#heldBegin) {
      this.#heldBegin = false;
      this.#begin();
    }
    const held = this.#heldHead;
    if (held === null) return;
    this.#heldHead = null;
    this.#parser.resume();
    this.#head(held);
    if (this.#upgradeHead !== null) {
      this.#deferred = this.#replayUpgrade(EMPTY, 0);
      return;
    }
    // A bodiless message ends without another byte: let llhttp get there now,
    // as wasm does, or a paused head at the very end of a read would wait for
    // the next read to end (and a pipelining client would wait forever).
    const ret = this.#parser.execute(NO_BYTES);
    if (typeof ret !== 'number' && ret.code !== 'HPE_PAUSED') this.#deferred = nativeError(ret, 0, '', '', false);
  }

  /**
   * Re-initialise llhttp after an Upgrade/CONNECT head and replay that head's
   * framing without the upgrade, so that Node reports errors again. A body-less
   * message ends here (the sink's onRequestEnd runs).
   */
  #replayUpgrade(chunk: Buffer, offset: number): ParseError | null {
    const head = this.#upgradeHead as RequestHead;
    this.#upgradeHead = null;
    const framing = head.method === 'CONNECT' ? '' : upgradeFraming(head.rawHeaders);
    let err = this.#replay(head, framing);
    // Transfer-Encoding without a final `chunked`: a plain request is refused
    // for it, an upgrade request has no body (llhttp__after_headers_complete).
    if (err === 'HPE_INVALID_TRANSFER_ENCODING' && framing !== '') err = this.#replay(head, '');
    if (err === null) return null;
    return {
      code: 'HPE_INTERNAL',
      reason: `upgrade replay failed: ${err}`,
      offset,
      following: following(chunk, offset),
      before: byteBefore(chunk, offset, this.#prior),
    };
  }

  /** Fresh llhttp, fed a synthetic head. Returns the error code, if any. */
  #replay(head: RequestHead, framing: string): string | null {
    const { HTTPParser } = binding as HttpCommon;
    const parser = this.#parser;
    parser.initialize(HTTPParser.REQUEST, {}, this.#maxHeaderSize, lenientFlags());
    this.#muted = true;
    let ret: number | NativeParseError;
    try {
      ret = parser.execute(Buffer.from(replayText(head, framing), 'latin1'));
    } finally {
      this.#muted = false;
    }
    return typeof ret === 'number' ? null : (ret.code ?? 'HPE_INTERNAL');
  }

  finish(): ParseError | null {
    // At EOF there is no chunk to show and no request-target to blame: Node's
    // own reason stands (not nativeError's 414/431 wording).
    const ret = this.#parser.finish();
    if (ret === undefined) return null;
    return {
      code: ret.code ?? 'HPE_INTERNAL',
      reason: ret.reason ?? ret.message,
      offset: 0,
      following: '',
      before: '',
    };
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const parser = this.#parser;
    // Its callbacks hold this adapter (and through the sink a connection): cut them.
    for (const slot of CALLBACK_SLOTS) parser[slot] = null;
    putBack(parser);
  }
}
