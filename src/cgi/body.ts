// A chunked request body for a CGI program. RFC 3875 §4.1.2 wants
// CONTENT_LENGTH before the program starts, so the body is received whole
// first: in memory up to a limit, past it in a private temporary file.
//
// The temp file's stream is the one thing here that fails on its own (a full
// disk; a write still in flight when the client left and dispose() destroyed
// it). Its faults are held as data and reach the run through finish(): an
// 'error' event with no listener would end the whole process, every other
// client with it.

import { createReadStream, createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Exchange } from '../http/exchange';

export class SpooledBody {
  length = 0;
  readonly #memoryLimit: number;
  #chunks: Buffer[] = [];
  #file: { dir: string; path: string; stream: WriteStream } | null = null;
  /** Set once: after it, nothing is written or kept (the run's end, or its client's). */
  #disposed = false;
  /** The temp file's first fault: finish() rejects with it. */
  #failure: Error | null = null;
  /** Who waits for the file to drain (at most one: the body is paused meanwhile). */
  #waiter: (() => void) | null = null;

  constructor(memoryLimit: number) {
    this.#memoryLimit = memoryLimit;
  }

  /** Returns false when the temp file needs draining: call `onDrain` before writing more. */
  write(chunk: Buffer): boolean {
    // Disposed or failed: the bytes go nowhere, and no new temp file is made.
    if (this.#disposed || this.#failure !== null) return true;
    this.length += chunk.length;
    if (this.#file === null && this.length <= this.#memoryLimit) {
      this.#chunks.push(chunk);
      return true;
    }
    if (this.#file === null) {
      let dir: string;
      try {
        dir = mkdtempSync(join(tmpdir(), 'porta-body-'));
      } catch (err) {
        this.#failure = err as Error; // no temp folder (full, read-only): finish() says so
        this.#chunks = [];
        return true;
      }
      const path = join(dir, 'body');
      const stream = createWriteStream(path, { mode: 0o600 });
      stream.on('error', this.#failed);
      stream.on('drain', this.#drained);
      this.#file = { dir, path, stream };
      for (const held of this.#chunks) stream.write(held);
      this.#chunks = [];
    }
    return this.#file.stream.write(chunk);
  }

  onDrain(callback: () => void): void {
    if (this.#file === null || this.#failure !== null || this.#disposed) return void queueMicrotask(callback);
    this.#waiter = callback;
  }

  readonly #drained = (): void => {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  };

  readonly #failed = (err: Error): void => {
    this.#failure ??= err;
    // A paused body waits for a drain that will not come: let it go on (and end in finish()'s rejection).
    this.#drained();
  };

  /** Wait until everything written is on disk (no-op in memory); rejects with the file's fault. */
  finish(): Promise<void> {
    const file = this.#file;
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (file === null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // end()'s callback also hears an error (the stream has its listener, so none escapes).
      file.stream.end((err?: Error | null) => {
        const failure = err ?? this.#failure;
        if (failure !== null) reject(failure);
        else resolve();
      });
    });
  }

  /** Feed the whole body to `stdin` with backpressure, then end it. */
  pipeTo(stdin: Writable): void {
    const file = this.#file;
    if (file === null) {
      const chunks = this.#chunks;
      let i = 0;
      const pump = (): void => {
        while (i < chunks.length) {
          if (!stdin.write(chunks[i++] as Buffer)) {
            stdin.once('drain', pump);
            return;
          }
        }
        stdin.end();
      };
      pump();
      return;
    }
    const source = createReadStream(file.path);
    source.on('error', () => stdin.destroy());
    // The program stopped reading (exited, or was stopped): the file's fd goes too.
    stdin.on('close', () => source.destroy());
    source.pipe(stdin);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#waiter = null;
    const file = this.#file;
    this.#chunks = [];
    if (file === null) return;
    this.#file = null;
    // A write may still be in flight: its failure lands on the listener above.
    file.stream.destroy();
    rmSync(file.dir, { recursive: true, force: true });
  }
}

/**
 * Read the request's whole body into a spool, with backpressure, then hand
 * it over (`ready` owns it from then on and disposes of it); `failed` if it
 * could not be stored (it is disposed of here). A client gone before the
 * body is whole: the spool, and its temp file, go with it.
 */
export function spoolBody(
  exchange: Exchange,
  memoryLimit: number,
  ready: (spool: SpooledBody) => void,
  failed: (err: Error) => void,
): void {
  const spool = new SpooledBody(memoryLimit);
  let handedOver = false;
  exchange.onClose(() => {
    if (!handedOver) spool.dispose();
  });
  exchange.readBody({
    onData: (chunk) => {
      if (!spool.write(chunk)) {
        exchange.pauseBody();
        spool.onDrain(exchange.contain(() => exchange.resumeBody()));
      }
    },
    onEnd: () => {
      spool.finish().then(
        exchange.contain(() => {
          handedOver = true;
          ready(spool);
        }),
        exchange.contain((err: Error) => {
          spool.dispose();
          failed(err);
        }),
      );
    },
  });
}
