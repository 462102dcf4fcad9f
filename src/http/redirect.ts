// An internal redirect (RFC 3875 §6.2.2 "local redirect"): the same client
// exchange, answered as if the client had asked GET <location>. The response
// goes to the original exchange; only the request the handlers see changes.

import type { ConnectionTrace } from '../trace';
import type { BodyFraming, BodyReader, Exchange, HandedSocket, WriteResult } from './exchange';
import { Request } from './request';
import type { HeaderList } from './response';

/** Request fields that describe the original body, which the new GET does not have. */
const BODY_FIELDS = new Set(['content-length', 'transfer-encoding', 'content-type', 'expect']);

export class RedirectedExchange implements Exchange {
  readonly request: Request;
  readonly redirects: number;
  readonly #inner: Exchange;

  constructor(inner: Exchange, location: string) {
    this.#inner = inner;
    this.redirects = (inner instanceof RedirectedExchange ? inner.redirects : 0) + 1;
    const original = inner.request;
    const rawHeaders: string[] = [];
    for (let i = 0; i < original.rawHeaders.length; i += 2) {
      const name = original.rawHeaders[i] as string;
      if (!BODY_FIELDS.has(name.toLowerCase())) rawHeaders.push(name, original.rawHeaders[i + 1] as string);
    }
    this.request = new Request(
      {
        method: 'GET',
        url: location,
        versionMajor: original.versionMajor,
        versionMinor: original.versionMinor,
        rawHeaders,
        keepAlive: true,
        upgrade: false,
      },
      original.peer,
    );
  }

  get headOnly(): boolean {
    return this.#inner.headOnly;
  }
  get trace(): ConnectionTrace | null {
    return this.#inner.trace;
  }
  get headSent(): boolean {
    return this.#inner.headSent;
  }
  get gone(): boolean {
    return this.#inner.gone;
  }
  sendHead(status: number, headers: HeaderList, framing: BodyFraming): WriteResult {
    return this.#inner.sendHead(status, headers, framing);
  }
  write(chunk: Buffer): WriteResult {
    return this.#inner.write(chunk);
  }
  onDrain(callback: () => void): void {
    this.#inner.onDrain(callback);
  }
  end(): WriteResult {
    return this.#inner.end();
  }
  sendError(status: number, detail: string, extra?: HeaderList): void {
    this.#inner.sendError(status, detail, extra);
  }
  abort(reason: string, clientGone?: boolean): void {
    this.#inner.abort(reason, clientGone);
  }
  /** The redirected GET has no body. */
  readBody(reader: BodyReader): void {
    reader.onEnd();
  }
  pauseBody(): void {
    /* no body to pause */
  }
  resumeBody(): void {
    /* no body to resume */
  }
  onClose(callback: () => void): void {
    this.#inner.onClose(callback);
  }
  handOff(withHead: boolean, ready: (socket: HandedSocket | null) => void): void {
    this.#inner.handOff(withHead, ready);
  }
  clientPresent(): boolean {
    return this.#inner.clientPresent();
  }
  noteUpstream(us: number): void {
    this.#inner.noteUpstream(us);
  }
  logError(message: string): void {
    this.#inner.logError(`(redirected to ${this.request.target}) ${message}`);
  }
  contain<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void {
    return this.#inner.contain(callback);
  }
}
