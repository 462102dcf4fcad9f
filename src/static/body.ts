// send_file: a file's bytes onto an exchange, from memory, read whole (small
// files), sent by the kernel with sendfile(2) (large files on plain-text
// connections, when the addon is built), or streamed with backpressure. Every
// callback here may run after the client left: the exchange then answers
// 'gone' and onClose() has stopped the stream or the sendfile job, so a late
// open, read or drain does nothing.

import { closeSync, createReadStream, fstatSync, openSync, type ReadStream, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Exchange, LentBody } from '../http/exchange';
import { type FsPath, pathText } from '../http/path';
import type { HeaderList } from '../http/response';
import { SmallFileCache } from './files';
import type { SendfileAddon, SendfileDone, SendfileJob } from './sendfile';

export interface FileAnswer {
  status: number;
  headers: HeaderList;
  fsPath: FsPath;
  stat: Stats;
  /** Inclusive byte range to send. */
  start: number;
  end: number;
  /** The path asked for (fsPath may be its precompressed sibling) and a program's fields (X-Sendfile). */
  source: FsPath;
  extraHeaders: HeaderList;
  /** Started again once already because the file changed: a second change is a 503. */
  retried: boolean;
}

/**
 * The file opened is not the version its head was built from (edited within
 * the moment a lookup is remembered, http/root.ts): its validators and length
 * would label other bytes. Called before the head goes out; the server looks
 * the file up again and answers afresh.
 */
export type FileChanged = (exchange: Exchange, answer: FileAnswer) => void;

/** Large bodies by sendfile(2): the addon's functions and when to use them. */
export interface SendfileOptions {
  addon: SendfileAddon;
  /** Bodies at least this long (shorter ones stream). */
  minLength: number;
  /** No byte taken by the client for this long (--send-timeout): the response is cut. */
  sendTimeoutMs: number;
}

/**
 * The most sendfile(2) moves for one connection in one event-loop turn: then
 * the loop serves the others before it goes on (the socket buffer usually
 * fills first).
 */
const SENDFILE_TURN = 1024 * 1024;

/** Send `answer`'s bytes: from the cache, read whole and cached, by sendfile, or streamed from disk. */
export function sendFile(
  exchange: Exchange,
  answer: FileAnswer,
  cache: SmallFileCache,
  readChunk: number,
  sendfile: SendfileOptions | null,
  changed: FileChanged,
): void {
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
  switch (bodyRoute(exchange, answer, cache, sendfile)) {
    case 'read':
      return readSmall(exchange, answer, cache, changed);
    case 'sendfile':
      return sendfileBody(exchange, answer, readChunk, sendfile as SendfileOptions, changed);
    default:
      return streamFile(exchange, answer, readChunk, changed);
  }
}

/** How a body leaves (after the cache was asked): the one place this is decided. */
export type BodyRoute = 'none' | 'memory' | 'read' | 'sendfile' | 'stream';

export function bodyRoute(
  exchange: Exchange,
  answer: FileAnswer,
  cache: SmallFileCache,
  sendfile: SendfileOptions | null,
): BodyRoute {
  const length = answer.end - answer.start + 1;
  if (exchange.headOnly || length === 0) return 'none';
  if (cache.has(answer.fsPath, answer.stat)) return 'memory';
  if (cache.fits(answer.stat)) return 'read';
  if (
    sendfile !== null &&
    length >= sendfile.minLength &&
    exchange.lendBody !== undefined &&
    !exchange.request.peer.secure // TLS: porta must encrypt every byte
  ) {
    return 'sendfile';
  }
  return 'stream';
}

/** Read a small file whole (and keep it), checking it is the file we stat'ed. */
function readSmall(exchange: Exchange, answer: FileAnswer, cache: SmallFileCache, changed: FileChanged): void {
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
      if (!SmallFileCache.sameVersion(stat, answer.stat)) return changed(exchange, answer);
      if (body.length !== stat.size) {
        // Written to between the fstat and the read: neither version for sure.
        return exchange.sendError(503, 'file changed while being read', [['Retry-After', '1']]);
      }
      exchange.sendHead(answer.status, answer.headers, { kind: 'length', length: end - start + 1 });
      exchange.write(body.subarray(start, end + 1));
      exchange.end();
    }),
    exchange.contain((err: Error) => {
      if (exchange.gone) return;
      if (vanished(err)) return changed(exchange, answer);
      exchange.logError(`read ${pathText(fsPath)}: ${err.message}`);
      exchange.sendError(500, 'file could not be read');
    }),
  );
}

/**
 * Removed (or renamed) since its lookup, which is remembered for up to a
 * second (http/root.ts): not a server error. The server looks it up again
 * (FileChanged) and answers what is there now: a 404, or the file itself for
 * a precompressed sibling that went.
 */
function vanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The body by sendfile(2): the file is opened, the head written, then the
 * exchange lends the socket and the addon sends the range from its own dups
 * of both fds, on the event loop as the socket drains (native/porta_spawn.c).
 * No byte of the file passes through JavaScript, and a slow reader holds no
 * memory, only the kernel's socket buffer. If the socket cannot be lent or
 * the addon refuses, the same open file is streamed instead.
 */
function sendfileBody(
  exchange: Exchange,
  answer: FileAnswer,
  readChunk: number,
  options: SendfileOptions,
  changed: FileChanged,
): void {
  const { fsPath, start, end } = answer;
  const length = end - start + 1;
  // Opened on the event loop, as stat and realpath are (http/root.ts): a file
  // just stat'ed opens in microseconds, less than the two thread-pool round
  // trips of an async open and close, whose wake-ups cost W3 a tenth of its
  // throughput on two cores.
  let file: number | null = null;
  let current: Stats;
  try {
    file = openSync(fsPath, 'r');
    current = fstatSync(file);
  } catch (err) {
    if (file !== null) closeQuietly(file);
    if (vanished(err)) return changed(exchange, answer);
    exchange.logError(`open ${pathText(fsPath)}: ${(err as Error).message}`);
    return exchange.sendError(500, 'file could not be read');
  }
  // What goes out is the open file, not the path looked up a moment ago.
  if (!SmallFileCache.sameVersion(current, answer.stat)) {
    closeQuietly(file);
    return changed(exchange, answer);
  }
  /** Closes our fd, if we still own it (the addon has its own dup; a stream closes what it is given). */
  const closeFile = (): void => {
    const fd = file;
    file = null;
    if (fd !== null) closeQuietly(fd);
  };
  let job: SendfileJob | null = null;
  exchange.onClose(() => {
    if (job !== null) options.addon.sendfileCancel(job);
    job = null;
    closeFile();
  });

  const lent = (socket: LentBody | null): void => {
    const fileFd = file;
    if (fileFd === null) return; // the client left meanwhile
    if (socket === null) {
      if (exchange.gone) return closeFile();
      file = null;
      return streamOpen(exchange, fileFd, answer, readChunk);
    }
    const done: SendfileDone = (err, sent) => {
      job = null;
      socket.giveBack(sent);
      if (err === null) return void exchange.end();
      switch (err.code) {
        case 'ETIMEDOUT':
          return exchange.abort(`send timeout: the client took nothing for ${options.sendTimeoutMs / 1000} s`);
        case 'EPIPE':
        case 'ECONNRESET':
          return exchange.abort(`the client left (${err.code}) after ${sent} of ${length} bytes`, true);
        case 'EINVAL':
        case 'ENOSYS':
        case 'EOPNOTSUPP':
          // A file system sendfile cannot read from: nothing went out yet, so stream it instead.
          if (sent === 0) {
            const stream = createReadStream(fsPath, { start, end, highWaterMark: readChunk });
            return pipeBody(exchange, stream, fsPath, () => true);
          }
          break;
        default:
          break;
      }
      exchange.logError(`sendfile ${pathText(fsPath)}: ${err.message}`);
      exchange.abort('file read failed mid-response');
    };
    // The socket's fd number is good for this turn only: the addon dups it (and the file's) before returning.
    const fd = socket.fd();
    try {
      if (fd !== null) {
        const onDone = exchange.contain(done);
        job = options.addon.sendfile(fd, fileFd, start, length, options.sendTimeoutMs, SENDFILE_TURN, onDone);
      }
    } catch (err) {
      exchange.logError(`sendfile ${pathText(fsPath)}: ${(err as Error).message}; streamed instead`);
    }
    if (job === null) {
      socket.giveBack(0);
      file = null;
      return streamOpen(exchange, fileFd, answer, readChunk);
    }
    closeFile(); // the addon has its own dup
  };

  if (exchange.sendHead(answer.status, answer.headers, { kind: 'length', length }) === 'gone') return closeFile();
  exchange.lendBody?.(exchange.contain(lent));
}

/** Stream from disk, reading only as fast as the client takes it (at most ~2 chunks held). */
function streamFile(exchange: Exchange, answer: FileAnswer, readChunk: number, changed: FileChanged): void {
  const { fsPath, start, end } = answer;
  const stream = createReadStream(fsPath, { start, end, highWaterMark: readChunk });
  let started = false;
  stream.on(
    'open',
    exchange.contain((fd: number) => {
      // The fd is the stream's and open in this callback: fstat it now.
      if (!SmallFileCache.sameVersion(fstatSync(fd), answer.stat)) {
        stream.destroy();
        return changed(exchange, answer);
      }
      started = true;
      if (exchange.sendHead(answer.status, answer.headers, { kind: 'length', length: end - start + 1 }) === 'gone') {
        stream.destroy();
      }
    }),
  );
  pipeBody(
    exchange,
    stream,
    fsPath,
    () => started,
    () => changed(exchange, answer),
  );
}

/** Stream the body from a file already open, its head already sent (sendfile's fallback). The stream closes `fd`. */
function streamOpen(exchange: Exchange, fd: number, answer: FileAnswer, readChunk: number): void {
  const { fsPath, start, end } = answer;
  const stream = createReadStream(fsPath, { fd, start, end, highWaterMark: readChunk });
  pipeBody(exchange, stream, fsPath, () => true);
}

/** A file stream onto the exchange, with backpressure; `started`: has the head gone out? */
function pipeBody(
  exchange: Exchange,
  stream: ReadStream,
  fsPath: FsPath,
  started: () => boolean,
  /** The file was gone at its open (before the head): look it up again. */
  reopen?: () => void,
): void {
  exchange.onClose(() => stream.destroy());
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
      if (!started() && reopen !== undefined && vanished(err)) return reopen();
      exchange.logError(`stream ${pathText(fsPath)}: ${err.message}`);
      if (!started()) exchange.sendError(500, 'file could not be read');
      else exchange.abort('file read failed mid-response');
    }),
  );
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EIO on close of a file only read: nothing to do
  }
}
