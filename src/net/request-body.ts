// One request's body on its way from the parser to a handler. What arrives
// before the handler asks is held (at most the rest of one read: the socket
// is not read for a body nobody asked for); the handler's reader then gets it
// in order, paused and resumed at its word. It also knows whether the client
// still holds its body back for a 100 Continue (RFC 9110 §10.1.1), which is
// due only when the body is first asked for. The exchange owns one, and
// speaks to the socket and the connection for it: this holds no socket.

import type { BodyReader } from '../http/exchange';

export class RequestBody {
  readonly expectsContinue: boolean;
  #complete = false;
  #continueSent = false;
  #reader: BodyReader | null = null;
  #paused = false;
  #early: Buffer[] = [];

  constructor(expectsContinue: boolean) {
    this.expectsContinue = expectsContinue;
  }

  /** The parser has seen the message end. */
  get complete(): boolean {
    return this.#complete;
  }
  /** The client still holds its body back: no 100 Continue was sent and the body never came. */
  get withheld(): boolean {
    return this.expectsContinue && !this.#continueSent && !this.#complete;
  }
  /** A reader wants bytes now: the socket should be read for them. */
  get wanted(): boolean {
    return this.#reader !== null && !this.#paused;
  }

  /**
   * The handler's reader, once: false if one is already attached. Returns
   * whether a 100 Continue must go out now (the client waits for it and no
   * answer has begun, `answering` false).
   */
  attach(reader: BodyReader, answering: boolean): { attached: boolean; sendContinue: boolean } {
    if (this.#reader !== null) return { attached: false, sendContinue: false };
    this.#reader = reader;
    const sendContinue = this.withheld && !answering;
    if (sendContinue) this.#continueSent = true;
    return { attached: true, sendContinue };
  }

  /** Hand the reader what arrived before it: true when the body is whole (its end told too). */
  flush(): boolean {
    const reader = this.#reader;
    if (reader === null) return this.#complete;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) reader.onData(chunk);
    if (this.#complete) reader.onEnd();
    return this.#complete;
  }

  /** Pause (true) or resume (false); true when that changed anything. */
  setPaused(paused: boolean): boolean {
    if (this.#paused === paused) return false;
    this.#paused = paused;
    return true;
  }

  /**
   * Body bytes from the parser: to the reader; held while the handler may
   * still ask (`mayAsk`); otherwise the answer is under way without the body
   * and they are dropped. Nothing reaches a reader once `stopped`.
   */
  deliver(chunk: Buffer, stopped: boolean, mayAsk: boolean): void {
    const reader = this.#reader;
    if (reader !== null) {
      if (!stopped) reader.onData(chunk);
    } else if (mayAsk) {
      this.#early.push(chunk);
    }
  }

  /** The message end from the parser; without a reader yet it waits for flush(). */
  end(stopped: boolean): void {
    this.#complete = true;
    if (!stopped) this.#reader?.onEnd();
  }

  /** The exchange is over: what was held is let go. */
  drop(): void {
    this.#early = [];
  }
}
