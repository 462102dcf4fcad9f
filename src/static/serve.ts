// Static files, read top to bottom: send_head decides what the answer is
// (404, 301 to the slash, index file, listing, 304, 206, 416), send_file streams
// the bytes with backpressure. Small files come from memory; the rest from disk.

import { createReadStream, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { contentType } from 'mime-types';
import type { Exchange } from '../http/exchange';
import { resolveRequestPath, type PathVerdict } from '../http/path';
import type { HeaderList } from '../http/response';
import { acceptsEncoding, entityTag, evaluatePreconditions, evaluateRange, httpDate } from './conditional';
import { Files, SmallFileCache } from './files';
import { renderListing } from './listing';

export interface StaticOptions {
  root: string;
  dotfiles: boolean;
  cacheFileSize: number;
  cacheBytes: number;
  /** How long a stat/realpath answer is reused (0: never). */
  statCacheMs: number;
  /** Bytes read from disk at a time when streaming a file. */
  readChunk: number;
}

const INDEX_FILES = ['index.html', 'index.htm'];
const ALLOW = 'GET, HEAD, OPTIONS';
// nginx's gzip_static / brotli_static: a sibling file already compressed.
const PRECOMPRESSED: Array<{ coding: string; suffix: string }> = [
  { coding: 'br', suffix: '.br' },
  { coding: 'gzip', suffix: '.gz' },
];

export class StaticFiles {
  readonly files: Files;
  readonly #options: StaticOptions;
  readonly #cache: SmallFileCache;
  readonly #types = new Map<string, string>();

  constructor(options: StaticOptions) {
    this.#options = options;
    this.files = new Files(options.root, options.statCacheMs);
    this.#cache = new SmallFileCache(options.cacheFileSize, options.cacheBytes);
  }

  /** Answer `exchange` from the document root; `verdict` is the path already resolved by dispatch, if it was. */
  serve(exchange: Exchange, resolved?: PathVerdict): void {
    const req = exchange.request;
    const verdict = resolved ?? resolveRequestPath(this.files.realRoot, req.path, { dotfiles: this.#options.dotfiles });
    if (verdict.kind === 'bad') return exchange.sendError(400, verdict.reason);
    if (verdict.kind === 'hidden') return exchange.sendError(404, 'not found');
    const found = this.files.lookup(verdict.fsPath);
    switch (found.kind) {
      case 'missing':
        return exchange.sendError(404, 'not found');
      case 'forbidden':
        return exchange.sendError(403, 'forbidden');
      case 'directory':
        return this.#sendDirectory(exchange, verdict.fsPath, verdict.trailingSlash);
      case 'file':
        if (verdict.trailingSlash) return exchange.sendError(404, 'not found');
        return this.#sendHead(exchange, verdict.fsPath, found.stat);
    }
  }

  #sendDirectory(exchange: Exchange, dirPath: string, trailingSlash: boolean): void {
    const req = exchange.request;
    if (!trailingSlash) {
      // The listing's relative links only work under the slash form.
      // "//host" would be a protocol-relative Location: an open redirect.
      const location = req.path.replace(/^\/+/, '/') + '/' + (req.query === null ? '' : '?' + req.query);
      return this.#sendSmall(
        exchange,
        301,
        [['Location', location]],
        'text/html; charset=utf-8',
        Buffer.from(`<a href="${encodeURI(location)}">Moved Permanently</a>\n`),
      );
    }
    for (const name of INDEX_FILES) {
      const indexPath = join(dirPath, name);
      const found = this.files.lookup(indexPath);
      if (found.kind === 'file') return this.#sendHead(exchange, indexPath, found.stat);
    }
    if (!this.#methodAllowed(exchange)) return;
    renderListing(dirPath, req.path, this.#options.dotfiles).then(
      (page) => this.#sendSmall(exchange, 200, [], 'text/html; charset=utf-8', page),
      () => exchange.sendError(403, 'directory cannot be listed'),
    );
  }

  #methodAllowed(exchange: Exchange): boolean {
    const method = exchange.request.method;
    if (method === 'GET' || method === 'HEAD') return true;
    if (method === 'OPTIONS') {
      exchange.sendHead(204, [['Allow', ALLOW]], { kind: 'none' });
      exchange.end();
      return false;
    }
    exchange.sendError(405, `${method} is not allowed on a static file`, [['Allow', ALLOW]]);
    return false;
  }

  /**
   * X-Sendfile from a CGI program: serve `fsPath` (a file under the root) with
   * the program's extra headers, conditional and range handling included.
   */
  serveFile(exchange: Exchange, fsPath: string, extraHeaders: HeaderList): void {
    const found = this.files.lookup(fsPath);
    if (found.kind === 'missing') return exchange.sendError(404, 'X-Sendfile target not found');
    if (found.kind !== 'file') return exchange.sendError(403, 'X-Sendfile target is not a file under the root');
    this.#sendHead(exchange, fsPath, found.stat, extraHeaders);
  }

  /** send_head: validators, preconditions, range, then the body. */
  #sendHead(exchange: Exchange, fsPath: string, stat: Stats, extraHeaders: HeaderList = []): void {
    if (!this.#methodAllowed(exchange)) return;
    const req = exchange.request;
    const type = this.#contentType(fsPath);
    let bodyPath = fsPath;
    let bodyStat = stat;
    let coding: string | null = null;
    const vary = this.#hasPrecompressed(fsPath, stat);
    if (vary) {
      for (const { coding: c, suffix } of PRECOMPRESSED) {
        if (!acceptsEncoding(req, c)) continue;
        const sibling = this.files.lookup(fsPath + suffix);
        if (sibling.kind === 'file') {
          bodyPath = fsPath + suffix;
          bodyStat = sibling.stat;
          coding = c;
          break;
        }
      }
    }
    const { etag, lastModified } = this.#validators(bodyStat, coding);
    const headers: HeaderList = [
      ['Content-Type', type],
      ['Last-Modified', lastModified],
      ['ETag', etag],
      ['Accept-Ranges', 'bytes'],
    ];
    if (coding !== null) headers.push(['Content-Encoding', coding]);
    if (vary) headers.push(['Vary', 'Accept-Encoding']);
    for (const [name, value] of extraHeaders) {
      if (!headers.some(([n]) => n.toLowerCase() === name.toLowerCase())) headers.push([name, value]);
    }

    switch (evaluatePreconditions(req, etag, lastModified, bodyStat.mtimeMs)) {
      case 'notModified':
        // RFC 9110 §15.4.5: the validators, no body.
        exchange.sendHead(
          304,
          headers.filter(([n]) => n !== 'Content-Type' && n !== 'Accept-Ranges'),
          { kind: 'none' },
        );
        exchange.end();
        return;
      case 'preconditionFailed':
        return exchange.sendError(412, 'precondition failed');
      case 'proceed':
        break;
    }
    const size = bodyStat.size;
    const range = evaluateRange(req, size, etag, lastModified);
    switch (range.kind) {
      case 'unsatisfiable':
        return exchange.sendError(416, 'range not satisfiable', [
          ['Content-Range', `bytes */${size}`],
          ['Accept-Ranges', 'bytes'],
        ]);
      case 'partial':
        headers.push(['Content-Range', `bytes ${range.start}-${range.end}/${size}`]);
        return this.#sendFile(exchange, 206, headers, bodyPath, bodyStat, range.start, range.end);
      case 'full':
        return this.#sendFile(exchange, 200, headers, bodyPath, bodyStat, 0, size - 1);
    }
  }

  #sendFile(
    exchange: Exchange,
    status: number,
    headers: HeaderList,
    fsPath: string,
    stat: Stats,
    start: number,
    end: number,
  ): void {
    const length = end - start + 1;
    const framing = { kind: 'length' as const, length };
    if (exchange.headOnly || length === 0) {
      exchange.sendHead(status, headers, framing);
      exchange.end();
      return;
    }
    const cached = this.#cache.get(fsPath, stat);
    if (cached !== undefined) {
      exchange.sendHead(status, headers, framing);
      exchange.write(start === 0 && end === cached.length - 1 ? cached : cached.subarray(start, end + 1));
      exchange.end();
      return;
    }
    if (this.#cache.fits(stat)) {
      this.#readSmall(exchange, status, headers, fsPath, start, end);
      return;
    }
    this.#streamFile(exchange, status, headers, fsPath, start, end);
  }

  /** Read a small file whole (and keep it), checking it is the file we stat'ed. */
  #readSmall(
    exchange: Exchange,
    status: number,
    headers: HeaderList,
    fsPath: string,
    start: number,
    end: number,
  ): void {
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
      ({ stat, body }) => {
        if (body.length !== stat.size || end >= body.length) {
          return exchange.sendError(503, 'file changed while being read', [['Retry-After', '1']]);
        }
        this.#cache.set(fsPath, stat, body);
        exchange.sendHead(status, headers, { kind: 'length', length: end - start + 1 });
        exchange.write(body.subarray(start, end + 1));
        exchange.end();
      },
      (err: Error) => {
        exchange.logError(`read ${fsPath}: ${err.message}`);
        exchange.sendError(500, 'file could not be read');
      },
    );
  }

  /** send_file: stream from disk, reading only as fast as the client takes it. */
  #streamFile(
    exchange: Exchange,
    status: number,
    headers: HeaderList,
    fsPath: string,
    start: number,
    end: number,
  ): void {
    const stream = createReadStream(fsPath, { start, end, highWaterMark: this.#options.readChunk });
    let started = false;
    exchange.onClose(() => stream.destroy());
    stream.on('open', () => {
      started = true;
      exchange.sendHead(status, headers, { kind: 'length', length: end - start + 1 });
    });
    stream.on('data', (chunk: Buffer | string) => {
      if (!exchange.write(chunk as Buffer)) {
        stream.pause();
        exchange.onDrain(() => stream.resume());
      }
    });
    stream.on('end', () => exchange.end());
    stream.on('error', (err) => {
      exchange.logError(`stream ${fsPath}: ${err.message}`);
      if (!started) exchange.sendError(500, 'file could not be read');
      else exchange.abort('file read failed mid-response');
    });
  }

  #sendSmall(exchange: Exchange, status: number, headers: HeaderList, type: string, body: Buffer): void {
    exchange.sendHead(status, [['Content-Type', type], ...headers], { kind: 'length', length: body.length });
    exchange.write(body);
    exchange.end();
  }

  // The same Stats object comes back while a lookup is remembered: derive its
  // validators once.
  readonly #validatorMemo = new WeakMap<Stats, { etag: string; lastModified: string }>();

  #validators(stat: Stats, coding: string | null): { etag: string; lastModified: string } {
    let known = this.#validatorMemo.get(stat);
    if (known === undefined) {
      known = { etag: entityTag(stat, coding), lastModified: httpDate(stat) };
      this.#validatorMemo.set(stat, known);
    }
    return known;
  }

  // Whether siblings exist is remembered with the file's own lookup (the same
  // Stats object), so the common file without siblings costs no extra stat.
  readonly #siblingsMemo = new WeakMap<Stats, boolean>();

  #hasPrecompressed(fsPath: string, stat: Stats): boolean {
    let known = this.#siblingsMemo.get(stat);
    if (known === undefined) {
      known = PRECOMPRESSED.some(({ suffix }) => this.files.lookup(fsPath + suffix).kind === 'file');
      this.#siblingsMemo.set(stat, known);
    }
    return known;
  }

  #contentType(fsPath: string): string {
    const ext = extname(fsPath).toLowerCase();
    let type = this.#types.get(ext);
    if (type === undefined) {
      type = (ext === '' ? false : contentType(ext)) || 'application/octet-stream';
      this.#types.set(ext, type);
    }
    return type;
  }
}
