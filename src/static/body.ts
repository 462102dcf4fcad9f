// send_file: a file's bytes onto an exchange, from memory, read whole (small
// files), or streamed with backpressure. Every callback here may run after the
// client left: the exchange then answers 'gone' and onClose() has stopped the
// stream, so a late open, read or drain does nothing.

import { createReadStream, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Exchange } from '../http/exchange';
import { type FsPath, pathText } from '../http/path';
import type { HeaderList } from '../http/response';
import type { SmallFileCache } from './files';

export interface FileAnswer {
  status: number;
  headers: HeaderList;
  fsPath: FsPath;
  stat: Stats;
  /** Inclusive byte range to send. */
  start: number;
  end: number;
}

/** Send `answer`'s bytes: from the cache, read whole and cached, or streamed from disk. */
export function sendFile(exchange: Exchange, answer: FileAnswer, cache: SmallFileCache, readChunk: number): void {
  const { status, headers, start, end } = answer;
  const length = end - start + 1;
  if (exchange.headOnly || length === 0) {
    exchange.sendHead(status, headers, { kind: 'length', length });
    exchange.end();
    return;
  }
  const cached = cache.get(answer.fsPath, answer.stat);
  if (cached !== undefined) {
    exchange.sendHead(status, headers, { kind: 'length', length });
    exchange.write(start === 0 && end === cached.length - 1 ? cached : cached.subarray(start, end + 1));
    exchange.end();
    return;
  }
  if (cache.fits(answer.stat)) readSmall(exchange, answer, cache);
  else streamFile(exchange, answer, readChunk);
}

/** Read a small file whole (and keep it), checking it is the file we stat'ed. */
function readSmall(exchange: Exchange, answer: FileAnswer, cache: SmallFileCache): void {
  const { fsPath, start, end } = answer;
  const read = async () => {
    const handle = await open(fsPath, 'r');
    try {
      const stat = await handle.stat();
      const body = await handle.readFile();
      return { stat, body };
    } finally {
      await handle.close();
    }
  };
  read().then(
    exchange.contain(({ stat, body }: { stat: Stats; body: Buffer }) => {
      // Kept even when the client has left: the next request will want it.
      cache.set(fsPath, stat, body);
      if (exchange.gone) return;
      if (body.length !== stat.size || end >= body.length) {
        return exchange.sendError(503, 'file changed while being read', [['Retry-After', '1']]);
      }
      exchange.sendHead(answer.status, answer.headers, { kind: 'length', length: end - start + 1 });
      exchange.write(body.subarray(start, end + 1));
      exchange.end();
    }),
    exchange.contain((err: Error) => {
      if (exchange.gone) return;
      exchange.logError(`read ${pathText(fsPath)}: ${err.message}`);
      exchange.sendError(500, 'file could not be read');
    }),
  );
}

/** Stream from disk, reading only as fast as the client takes it (at most ~2 chunks held). */
function streamFile(exchange: Exchange, answer: FileAnswer, readChunk: number): void {
  const { fsPath, start, end } = answer;
  const stream = createReadStream(fsPath, { start, end, highWaterMark: readChunk });
  let started = false;
  exchange.onClose(() => stream.destroy());
  stream.on(
    'open',
    exchange.contain(() => {
      started = true;
      if (exchange.sendHead(answer.status, answer.headers, { kind: 'length', length: end - start + 1 }) === 'gone') {
        stream.destroy();
      }
    }),
  );
  stream.on(
    'data',
    exchange.contain((chunk: Buffer | string) => {
      const result = exchange.write(chunk as Buffer);
      if (result === 'gone') stream.destroy();
      else if (result === 'full') {
        stream.pause();
        exchange.onDrain(() => stream.resume());
      }
    }),
  );
  stream.on(
    'end',
    exchange.contain(() => exchange.end()),
  );
  stream.on(
    'error',
    exchange.contain((err: Error) => {
      if (exchange.gone) return;
      exchange.logError(`stream ${pathText(fsPath)}: ${err.message}`);
      if (!started) exchange.sendError(500, 'file could not be read');
      else exchange.abort('file read failed mid-response');
    }),
  );
}
