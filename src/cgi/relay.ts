// Pipe mode (RFC 3875 §6): a program's stdout → the client. The header block
// is parsed, the answer decided (document, redirect, X-Sendfile), then the
// body is relayed with backpressure. What the program says about framing is
// held to: never a byte past its Content-Length (the rest is dropped and the
// connection closed after the answer). The answer completes at EOF once the
// program has been reaped: whole if the declared length arrived or the
// program exited 0. A program killed by a signal or exiting non-zero mid-body
// gets no terminating chunk: the client sees the truncation (RFC 9112 §8).

import type { Readable } from 'node:stream';
import type { Exchange } from '../http/exchange';
import type { HeaderList } from '../http/response';
import type { ExitStatus } from './launcher';
import { CgiHeadParser, type CgiResponse } from './response';

export interface RelayHooks {
  /** Local redirect (RFC 3875 §6.2.2): answer `location` as a new GET. */
  redirect(exchange: Exchange, location: string): void;
  /** X-Sendfile: serve a file under the root as static files are served. */
  sendFile(exchange: Exchange, path: string, status: number, headers: HeaderList): void;
  /** The answer failed before a head went out (502/504), or must be cut short: stop the program. */
  fail(status: number, detail: string): void;
  /** Our end of stdout is closed (EOF read, or destroyed): nothing more can come of it. */
  closed(): void;
}

type RelayPhase =
  | 'head' // reading the header block
  | 'body' // relaying the body
  | 'discard' // answered otherwise (redirect, sendfile, error, or complete): output read and dropped
  | 'done';

export class CgiRelay {
  readonly #exchange: Exchange;
  readonly #hooks: RelayHooks;
  readonly #label: string;
  readonly #parser: CgiHeadParser;
  #phase: RelayPhase = 'head';
  #sawOutput = false;
  /** The Content-Length the program declared, or null (chunked / close-delimited). */
  #declared: number | null = null;
  #relayed = 0;
  #outputEnded = false;
  #exit: ExitStatus | null = null;

  constructor(exchange: Exchange, hooks: RelayHooks, label: string, maxHeaderSize: number) {
    this.#exchange = exchange;
    this.#hooks = hooks;
    this.#label = label;
    this.#parser = new CgiHeadParser(maxHeaderSize);
  }

  /** Read `stdout` until EOF, with backpressure from the client. */
  attach(stdout: Readable): void {
    const exchange = this.#exchange;
    // A client gone while stdout waits for a drain that will never come: our
    // end of the pipe goes now (the program is being stopped anyway).
    exchange.onClose(() => stdout.destroy());
    stdout.on(
      'data',
      exchange.contain((chunk: Buffer) => {
        if (this.#output(chunk) === 'full') {
          stdout.pause();
          exchange.onDrain(() => stdout.resume());
        }
      }),
    );
    stdout.on(
      'end',
      exchange.contain(() => {
        this.#outputEnded = true;
        this.#settle();
      }),
    );
    stdout.on('error', () => undefined); // the program's end of the pipe went away: 'end'/'close' follow
    stdout.on(
      'close',
      exchange.contain(() => this.#hooks.closed()),
    );
  }

  /** Still reading stdout for an answer: the pipe has not reached EOF, and the answer is not settled. */
  get reading(): boolean {
    return !this.#outputEnded && this.#phase !== 'done' && !this.#exchange.gone;
  }

  /** The program was reaped. */
  exited(status: ExitStatus): void {
    this.#exit = status;
    this.#settle();
  }

  #output(chunk: Buffer): 'ok' | 'full' {
    this.#sawOutput = true;
    switch (this.#phase) {
      case 'head': {
        const parsed = this.#parser.push(chunk);
        if (parsed.kind === 'more') return 'ok';
        if (parsed.kind === 'invalid') return this.#failHead(`bad CGI response: ${parsed.reason}`);
        this.#phase = this.#respond(parsed.response) ? 'body' : 'discard';
        return this.#phase === 'body' && parsed.body.length > 0 ? this.#relay(parsed.body) : 'ok';
      }
      case 'body':
        return this.#relay(chunk);
      case 'discard':
      case 'done':
        return 'ok';
    }
  }

  /** Start the answer for a parsed header block. True if a body follows from stdout. */
  #respond(response: CgiResponse): boolean {
    const exchange = this.#exchange;
    switch (response.kind) {
      case 'invalid':
        this.#failHead(`bad CGI response: ${response.reason}`);
        return false;
      case 'localRedirect':
        this.#hooks.redirect(exchange, response.location);
        return false;
      case 'sendfile':
        this.#hooks.sendFile(exchange, response.path, response.status, response.headers);
        return false;
      case 'document':
      case 'clientRedirect': {
        const status = response.status;
        const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
        // RFC 9110 §15.3.6: a 205 carries no content, and says so with a zero length.
        const reset = status === 205;
        this.#declared = response.contentLength;
        exchange.sendHead(
          status,
          response.headers,
          bodiless
            ? { kind: 'none' }
            : reset
              ? { kind: 'length', length: 0 }
              : response.contentLength !== null
                ? { kind: 'length', length: response.contentLength }
                : { kind: 'stream' },
        );
        // HEAD, 204, 205 and 304 never carry a body: done now, whatever else
        // the program writes. A declared length (0 included) is held to until
        // EOF, so output past it still closes the connection.
        if (bodiless || reset || exchange.headOnly) {
          exchange.end();
          return false;
        }
        return true;
      }
    }
  }

  #relay(chunk: Buffer): 'ok' | 'full' {
    this.#relayed += chunk.length;
    // The exchange never writes past a declared length: what goes beyond it is
    // dropped there, logged, and the connection closes after this answer.
    const result = this.#exchange.write(chunk);
    if (result === 'gone') {
      this.#phase = 'discard';
      return 'ok';
    }
    return result;
  }

  /** Both EOF and the exit status are in: finish the answer the way they say. */
  #settle(): void {
    const exit = this.#exit;
    if (!this.#outputEnded || exit === null || this.#phase === 'done') return;
    const phase = this.#phase;
    this.#phase = 'done';
    switch (phase) {
      case 'head':
        this.#hooks.fail(502, this.#sawOutput ? 'CGI header block never ended' : 'the program sent no output');
        return;
      case 'body': {
        // Whole when the declared length arrived (however the program ended
        // after that). With no length declared, porta cannot see where the
        // body was meant to end: only a program that exited 0 has said it is
        // done. One that exited non-zero (a Python exception halfway through
        // the page is exit 1) or was killed by a signal (its timeout, a
        // crash) may have stopped mid-body: 502 if not a byte went out yet,
        // else no terminating chunk and the connection closes, so the client
        // sees the truncation (RFC 9112 §7.1, §8).
        const declared = this.#declared;
        const whole = declared === null ? exit.signal === null && exit.code === 0 : this.#relayed >= declared;
        if (whole) return void this.#exchange.end();
        const why =
          declared !== null && this.#relayed < declared
            ? `${this.#relayed} of the ${declared} bytes it declared (${describeExit(exit)})`
            : `${describeExit(exit)} before its response was known to be complete`;
        if (!this.#exchange.headSent) this.#hooks.fail(502, `the program sent ${why}`);
        else this.#exchange.abort(`${this.#label}: ${why}`);
        return;
      }
      case 'discard':
        return;
    }
  }

  #failHead(detail: string): 'ok' {
    this.#phase = 'discard';
    this.#hooks.fail(502, detail);
    return 'ok';
  }
}

export function describeExit(exit: ExitStatus): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
}
