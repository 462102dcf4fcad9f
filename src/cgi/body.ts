// A chunked request body for a CGI program. RFC 3875 §4.1.2 wants
// CONTENT_LENGTH before the program starts, so the body is received whole
// first: in memory up to a limit, past it in a private temporary file.

import { createReadStream, createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';

export class SpooledBody {
  length = 0;
  readonly #memoryLimit: number;
  #chunks: Buffer[] = [];
  #file: { dir: string; path: string; stream: WriteStream } | null = null;

  constructor(memoryLimit: number) {
    this.#memoryLimit = memoryLimit;
  }

  /** Returns false when the temp file needs draining: call `onDrain` before writing more. */
  write(chunk: Buffer): boolean {
    this.length += chunk.length;
    if (this.#file === null && this.length <= this.#memoryLimit) {
      this.#chunks.push(chunk);
      return true;
    }
    if (this.#file === null) {
      const dir = mkdtempSync(join(tmpdir(), 'porta-body-'));
      const path = join(dir, 'body');
      const stream = createWriteStream(path, { mode: 0o600 });
      this.#file = { dir, path, stream };
      for (const held of this.#chunks) stream.write(held);
      this.#chunks = [];
    }
    return this.#file.stream.write(chunk);
  }

  onDrain(callback: () => void): void {
    this.#file?.stream.once('drain', callback);
  }

  /** Wait until everything written is on disk (no-op in memory). */
  finish(): Promise<void> {
    const file = this.#file;
    if (file === null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      file.stream.once('error', reject);
      file.stream.end(() => resolve());
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
    const file = this.#file;
    this.#chunks = [];
    if (file === null) return;
    this.#file = null;
    file.stream.destroy();
    rmSync(file.dir, { recursive: true, force: true });
  }
}
