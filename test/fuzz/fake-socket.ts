// A net.Socket stand-in for driving a Connection in process: no kernel, no
// port, bytes in and bytes out. It is a real Duplex, so the stream machinery
// the connection relies on behaves as on a socket: write() queues and reports
// backpressure (writableNeedDrain, 'drain'), cork()/uncork() batch into
// _writev, pause()/resume() stop and restart 'data', end() sends the FIN after
// the queued bytes, destroy() and the end of both halves emit 'close' on a
// later tick, and a write after end() is an error, as Node does it.
//
// The peer's side is explicit: peerWrite() is one read landing, peerEnd() the
// peer's FIN, peerReset() an ECONNRESET. A peer that does not read
// (setPeerReading(false)) holds every write's completion, so writableLength
// grows and 'drain' waits, which is how a slow client looks to porta.

import { Duplex } from 'node:stream';
import type { ConnectionSocket } from '../../src/net/socket';

export interface FakeSocketOptions {
  /** The writable high-water mark: small values make porta meet backpressure often. */
  highWaterMark?: number;
  remoteAddress?: string;
  remotePort?: number;
}

export class FakeSocket extends Duplex implements ConnectionSocket {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress = '192.0.2.80';
  readonly localPort = 8080;

  /** Every byte the server wrote, in order: what the peer receives. */
  readonly #out: Buffer[] = [];
  #outBytes = 0;
  /** Completions of writes the peer has not read yet. */
  #held: Array<() => void> = [];
  #peerReading = true;
  /** Errors the stream reported (ERR_STREAM_WRITE_AFTER_END and friends), by code. */
  readonly errors: string[] = [];
  /** 'close' was emitted. */
  closeEmitted = false;
  /** The peer reset the connection (peerReset()). */
  reset = false;
  /** The FIN went out: end() was called and everything before it was written. */
  finSent = false;
  /** Bytes still queued when the socket was destroyed: written by porta, never sent. */
  lostBytes = 0;

  constructor(options: FakeSocketOptions = {}) {
    // allowHalfOpen as porta's listener has it: the peer's FIN does not end our side.
    super({ allowHalfOpen: true, writableHighWaterMark: options.highWaterMark ?? 16 * 1024 });
    this.remoteAddress = options.remoteAddress ?? '192.0.2.1';
    this.remotePort = options.remotePort ?? 40_000;
    this.on('error', (err: NodeJS.ErrnoException) => this.errors.push(err.code ?? err.message));
    this.on('close', () => {
      this.closeEmitted = true;
    });
  }

  // ---- the server's side (what net.Socket provides) ------------------------------

  override _read(): void {
    // Data only arrives through peerWrite().
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#record(chunk);
    this.#complete(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.#record(chunk);
    this.#complete(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finSent = true;
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.lostBytes = this.writableLength;
    // Writes the peer never read are simply lost, as in the kernel.
    const held = this.#held;
    this.#held = [];
    for (const done of held) done();
    callback(error);
  }

  /** net.Socket#destroySoon: FIN after what is queued, then destroy. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  // ---- the peer's side ------------------------------------------------------------

  /** One read arrives (buffered while the server has paused reading, as the kernel would). */
  peerWrite(chunk: Buffer): void {
    if (this.destroyed || this.readableEnded) return;
    this.push(chunk);
  }

  /** The peer's FIN. */
  peerEnd(): void {
    if (this.destroyed || this.readableEnded) return;
    this.push(null);
  }

  /** The peer resets the connection: 'error' (ECONNRESET), then 'close'. */
  peerReset(): void {
    if (this.destroyed) return;
    this.reset = true;
    const err: NodeJS.ErrnoException = new Error('read ECONNRESET');
    err.code = 'ECONNRESET';
    this.destroy(err);
  }

  /** A peer that stops reading holds every write's completion until it reads again. */
  setPeerReading(reading: boolean): void {
    this.#peerReading = reading;
    if (!reading) return;
    const held = this.#held;
    this.#held = [];
    for (const done of held) done();
  }

  /** Everything written so far, as one buffer. */
  received(): Buffer {
    if (this.#out.length > 1) {
      const whole = Buffer.concat(this.#out, this.#outBytes);
      this.#out.length = 0;
      this.#out.push(whole);
    }
    return this.#out[0] ?? Buffer.alloc(0);
  }

  get receivedBytes(): number {
    return this.#outBytes;
  }

  /** The server called end() (FIN queued) or destroy(). */
  get serverClosed(): boolean {
    return this.writableEnded || this.destroyed;
  }

  #record(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#out.push(chunk);
    this.#outBytes += chunk.length;
  }

  #complete(callback: (error?: Error | null) => void): void {
    if (this.#peerReading) callback();
    else this.#held.push(() => callback());
  }
}
