// Static files, read top to bottom: serve() decides what the path names (404,
// 301 to the slash, index file, listing), send_head decides the answer (304,
// 412, 206, 416, 200) and static/body.ts sends the bytes. Paths are resolved
// by http/path.ts and looked up through the one DocumentRoot (http/root.ts).

import type { Stats } from 'node:fs';
import { extname } from 'node:path';
import escapeHtml from 'escape-html';
import { contentType } from 'mime-types';
import type { Exchange } from '../http/exchange';
import { STATIC_ALLOW } from '../http/methods';
import {
  childPath,
  type FsPath,
  type PathVerdict,
  pathText,
  resolveRequestPath,
  withoutDotSegments,
  withSuffix,
} from '../http/path';
import { fixedFields } from '../http/head-memo';
import type { HeaderList } from '../http/response';
import type { DocumentRoot } from '../http/root';
import { bodyRoute, type FileAnswer, type FileChanged, type SendfileOptions, sendFile } from './body';
import {
  encodingQuality,
  entityTag,
  evaluatePreconditions,
  evaluateRange,
  httpDate,
  preconditionsWithoutValidators,
} from './conditional';
import { type FileFacts, notModifiedWhy, traceFile, traceRefusal } from './explain';
import { SmallFileCache } from './files';
import { renderListing } from './listing';
import { loadSendfile } from './sendfile';

export interface StaticOptions {
  /** Where files are looked up (shared with CGI: one containment check). */
  root: DocumentRoot;
  dotfiles: boolean;
  cacheFileSize: number;
  cacheBytes: number;
  /** Bytes read from disk at a time when streaming a file. */
  readChunk: number;
  /** Cache-Control on every answer from a file (304s included), or null for none. */
  cacheControl: string | null;
  /**
   * Bodies at least `minLength` long by sendfile(2), cut when the client takes
   * nothing for `sendTimeoutMs`; null or absent: always streamed. Without the
   * addon they stream too (`sendfileUnavailable` says why).
   */
  sendfile?: { minLength: number; sendTimeoutMs: number } | null;
}

const INDEX_FILES = ['index.html', 'index.htm'];
// nginx's gzip_static / brotli_static: a sibling file already compressed.
const PRECOMPRESSED: Array<{ coding: string; suffix: string }> = [
  { coding: 'br', suffix: '.br' },
  { coding: 'gzip', suffix: '.gz' },
];

export class StaticFiles {
  readonly root: DocumentRoot;
  readonly #options: StaticOptions;
  readonly #cache: SmallFileCache;
  readonly #types = new Map<string, string>();
  readonly #sendfile: SendfileOptions | null = null;
  /** Why large files stream although sendfile was asked for (the addon is missing), else null. */
  readonly sendfileUnavailable: string | null = null;

  constructor(options: StaticOptions) {
    this.#options = options;
    this.root = options.root;
    this.#cache = new SmallFileCache(options.cacheFileSize, options.cacheBytes);
    const wanted = options.sendfile ?? null;
    if (wanted !== null) {
      const loaded = loadSendfile();
      if (loaded.addon !== null) this.#sendfile = { addon: loaded.addon, ...wanted };
      else this.sendfileUnavailable = loaded.reason;
    }
  }

  /** Answer `exchange` from the document root; `verdict` is the path already resolved by dispatch, if it was. */
  serve(exchange: Exchange, resolved?: PathVerdict): void {
    const req = exchange.request;
    const verdict = resolved ?? resolveRequestPath(this.root.realRoot, req.path, { dotfiles: this.#options.dotfiles });
    if (verdict.kind === 'bad') {
      traceRefusal(exchange, 400, verdict.reason);
      return exchange.sendError(400, verdict.reason);
    }
    if (verdict.kind === 'hidden') {
      traceRefusal(exchange, 404, 'a dot file (--dotfiles serves them)');
      return exchange.sendError(404, 'not found');
    }
    const found = this.root.lookup(verdict.fsPath);
    switch (found.kind) {
      case 'missing':
        traceRefusal(exchange, 404, 'no such file under the root');
        return exchange.sendError(404, 'not found');
      case 'forbidden':
        traceRefusal(exchange, 403, 'porta may not read it (permissions, or a link out of the root)');
        return exchange.sendError(403, 'forbidden');
      case 'directory':
        return this.#sendDirectory(exchange, verdict.fsPath, verdict.trailingSlash);
      case 'file':
        if (verdict.trailingSlash) {
          traceRefusal(exchange, 404, 'a file named as a folder (trailing slash)');
          return exchange.sendError(404, 'not found');
        }
        return this.#sendHead(exchange, verdict.fsPath, found.stat, [], false);
    }
  }

  /**
   * X-Sendfile from a CGI program: serve `fsPath` (a file under the root) with
   * the program's extra headers, conditional and range handling included.
   */
  serveFile(exchange: Exchange, fsPath: FsPath, extraHeaders: HeaderList): void {
    const found = this.root.lookup(fsPath);
    if (found.kind === 'missing') return exchange.sendError(404, 'X-Sendfile target not found');
    if (found.kind !== 'file') return exchange.sendError(403, 'X-Sendfile target is not a file under the root');
    this.#sendHead(exchange, fsPath, found.stat, extraHeaders, false);
  }

  /**
   * The file changed between its lookup and its open (body.ts saw it): forget
   * the remembered lookups and answer again from a fresh one, once; a file
   * changing under every look is a 503.
   */
  readonly #fileChanged: FileChanged = (exchange, answer) => {
    if (exchange.gone) return;
    this.root.forget(answer.fsPath);
    this.root.forget(answer.source);
    const found = this.root.lookup(answer.source);
    // Gone since its lookup (deleted, renamed): what is there now is nothing.
    if (found.kind === 'missing') return exchange.sendError(404, 'not found');
    if (answer.retried || found.kind !== 'file') {
      return exchange.sendError(503, 'file changed while being read', [['Retry-After', '1']]);
    }
    this.#sendHead(exchange, answer.source, found.stat, answer.extraHeaders, true);
  };

  #sendDirectory(exchange: Exchange, dirPath: FsPath, trailingSlash: boolean): void {
    const req = exchange.request;
    if (!trailingSlash) {
      // The listing's relative links only work under the slash form, and
      // under a path without dot segments (/a/b/.. is the folder /a/). Empty
      // segments go too: "//host" would be a protocol-relative Location, an open redirect.
      const path = withoutDotSegments(req.path);
      const location = `${path.endsWith('/') ? path : `${path}/`}${req.query === null ? '' : `?${req.query}`}`;
      traceRefusal(exchange, 301, `a folder: its address ends with a slash (${location})`);
      return this.#sendSmall(
        exchange,
        301,
        [['Location', location]],
        // The Location is already percent-encoded (the client's own bytes): only HTML-escaped here.
        Buffer.from(`<a href="${escapeHtml(location)}">Moved Permanently</a>\n`),
      );
    }
    for (const name of INDEX_FILES) {
      const indexPath = childPath(dirPath, name);
      const found = this.root.lookup(indexPath);
      if (found.kind === 'file') return this.#sendHead(exchange, indexPath, found.stat, [], false);
    }
    if (!this.#methodAllowed(exchange)) return;
    const precondition = preconditionsWithoutValidators(req);
    if (precondition === 'preconditionFailed') {
      traceRefusal(exchange, 412, 'a precondition failed: a listing has no entity tag, and it exists');
      return exchange.sendError(412, 'precondition failed');
    }
    if (precondition === 'notModified') {
      traceRefusal(exchange, 304, 'If-None-Match: * and the listing exists');
      exchange.sendHead(304, [], { kind: 'none' });
      return void exchange.end();
    }
    traceRefusal(exchange, 200, 'a folder without index.html: its listing');
    renderListing(dirPath, req.path, this.#options.dotfiles).then(
      exchange.contain((page: Buffer) => {
        // A listing changes with its folder and has no validators: the files' Cache-Control
        // (no-cache by default) applies to it too, so a reload shows a new file.
        const cacheControl = this.#options.cacheControl;
        this.#sendSmall(exchange, 200, cacheControl === null ? [] : [['Cache-Control', cacheControl]], page);
      }),
      exchange.contain(() => exchange.sendError(403, 'directory cannot be listed')),
    );
  }

  #methodAllowed(exchange: Exchange): boolean {
    const method = exchange.request.method;
    if (method === 'GET' || method === 'HEAD') return true;
    if (method === 'OPTIONS') {
      traceRefusal(exchange, 204, `OPTIONS: the methods a file allows (${STATIC_ALLOW})`);
      exchange.sendHead(204, [['Allow', STATIC_ALLOW]], { kind: 'none' });
      exchange.end();
      return false;
    }
    traceRefusal(exchange, 405, `${method} is not allowed on a static file`);
    exchange.sendError(405, `${method} is not allowed on a static file`, [['Allow', STATIC_ALLOW]]);
    return false;
  }

  /** send_head: validators, preconditions, range, then the body. */
  #sendHead(exchange: Exchange, fsPath: FsPath, stat: Stats, extraHeaders: HeaderList, retried: boolean): void {
    if (!this.#methodAllowed(exchange)) return;
    const req = exchange.request;
    let bodyPath = fsPath;
    let bodyStat = stat;
    let coding: string | null = null;
    const vary = this.#hasPrecompressed(fsPath, stat);
    if (vary) {
      // The sibling the client weighs highest (q); on a tie, the list's order.
      let best = 0;
      for (const { coding: c, suffix } of PRECOMPRESSED) {
        const q = encodingQuality(req, c);
        if (q <= best) continue;
        const sibling = this.root.lookup(withSuffix(fsPath, suffix));
        // A sibling older than its source is stale (the source was edited
        // since): not used. Compared to the second, as Last-Modified is, so
        // that copying a tree in any order keeps its siblings.
        if (sibling.kind === 'file' && wholeSeconds(sibling.stat) >= wholeSeconds(stat)) {
          bodyPath = withSuffix(fsPath, suffix);
          bodyStat = sibling.stat;
          coding = c;
          best = q;
        }
      }
    }
    const { etag, lastModified } = this.#validators(bodyStat, coding);
    // The common answer (the file itself, no program's fields) has the same
    // fields every time while its Stats is the same: built once and declared
    // fixed, so its head is built once a second (http/head-memo.ts).
    const plain = coding === null && extraHeaders.length === 0;
    let headers = plain ? this.#fieldsMemo.get(bodyStat) : undefined;
    if (headers === undefined) {
      headers = this.#fileFields(this.#contentType(fsPath), etag, lastModified, coding, vary, extraHeaders);
      if (plain) this.#fieldsMemo.set(bodyStat, fixedFields(headers));
    }

    const facts: FileFacts | null =
      exchange.trace === null || exchange.trace === undefined
        ? null
        : { realRoot: this.root.realRoot, fsPath: bodyPath, stat: bodyStat, etag, lastModified, coding };
    switch (evaluatePreconditions(req, etag, lastModified, bodyStat.mtimeMs)) {
      case 'notModified':
        if (facts !== null) traceFile(exchange, facts, 304, notModifiedWhy(exchange), null, null);
        // RFC 9110 §15.4.5: the validators, no body.
        exchange.sendHead(
          304,
          headers.filter(([n]) => n !== 'Content-Type' && n !== 'Accept-Ranges'),
          { kind: 'none' },
        );
        exchange.end();
        return;
      case 'preconditionFailed':
        if (facts !== null) traceFile(exchange, facts, 412, 'If-Match or If-Unmodified-Since failed', null, null);
        return exchange.sendError(412, 'precondition failed');
      case 'proceed':
        break;
    }
    const size = bodyStat.size;
    const range = evaluateRange(req, size, etag, lastModified);
    // One object literal, one shape: spreading a template object here cost a
    // sixth of a cached response's CPU in a profile.
    const answer: FileAnswer = {
      status: 200,
      headers,
      fsPath: bodyPath,
      stat: bodyStat,
      start: 0,
      end: size - 1,
      source: fsPath,
      extraHeaders,
      retried,
    };
    switch (range.kind) {
      case 'unsatisfiable':
        if (facts !== null) traceFile(exchange, facts, 416, 'the Range lies outside the file', null, null);
        return exchange.sendError(416, 'range not satisfiable', [
          ['Content-Range', `bytes */${size}`],
          ['Accept-Ranges', 'bytes'],
        ]);
      case 'partial':
        answer.status = 206;
        answer.headers = [...headers, ['Content-Range', `bytes ${range.start}-${range.end}/${size}`]];
        answer.start = range.start;
        answer.end = range.end;
        return this.#sendBody(exchange, answer, facts);
      case 'full':
        return this.#sendBody(exchange, answer, facts);
    }
  }

  #fileFields(
    type: string,
    etag: string,
    lastModified: string,
    coding: string | null,
    vary: boolean,
    extraHeaders: HeaderList,
  ): HeaderList {
    const headers: HeaderList = [
      ['Content-Type', type],
      ['Last-Modified', lastModified],
      ['ETag', etag],
      ['Accept-Ranges', 'bytes'],
    ];
    if (coding !== null) headers.push(['Content-Encoding', coding]);
    if (vary) headers.push(['Vary', 'Accept-Encoding']);
    // A development server by default: revalidate every time (cheap 304s), so
    // an edited file shows on a plain reload (--cache-control chooses).
    const cacheControl = this.#options.cacheControl;
    if (cacheControl !== null) headers.push(['Cache-Control', cacheControl]);
    for (const [name, value] of extraHeaders) {
      if (!headers.some(([n]) => n.toLowerCase() === name.toLowerCase())) headers.push([name, value]);
    }
    return headers;
  }

  #sendBody(exchange: Exchange, answer: FileAnswer, facts: FileFacts | null): void {
    const { status, start, end } = answer;
    if (facts !== null) {
      const route = bodyRoute(exchange, answer, this.#cache, this.#sendfile);
      const why = status === 206 ? `bytes ${start}-${end} (the Range asked)` : 'the whole file';
      traceFile(exchange, facts, status, why, status === 206 ? { start, end } : null, route);
    }
    sendFile(exchange, answer, this.#cache, this.#options.readChunk, this.#sendfile, this.#fileChanged);
  }

  #sendSmall(exchange: Exchange, status: number, headers: HeaderList, body: Buffer): void {
    exchange.sendHead(status, [['Content-Type', 'text/html; charset=utf-8'], ...headers], {
      kind: 'length',
      length: body.length,
    });
    exchange.write(body);
    exchange.end();
  }

  // The same Stats object comes back while a lookup is remembered: derive its
  // validators once.
  readonly #validatorMemo = new WeakMap<Stats, { coding: string | null; etag: string; lastModified: string }>();
  readonly #fieldsMemo = new WeakMap<Stats, HeaderList>();

  #validators(stat: Stats, coding: string | null): { etag: string; lastModified: string } {
    let known = this.#validatorMemo.get(stat);
    // A .gz file is also a representation of its source (coding 'gzip'): one
    // Stats, two entity tags, so the memo holds the coding it was made for.
    if (known === undefined || known.coding !== coding) {
      known = { coding, etag: entityTag(stat, coding), lastModified: httpDate(stat) };
      this.#validatorMemo.set(stat, known);
    }
    return known;
  }

  // Whether siblings exist is remembered with the file's own lookup (the same
  // Stats object), so the common file without siblings costs no extra stat.
  readonly #siblingsMemo = new WeakMap<Stats, boolean>();

  #hasPrecompressed(fsPath: FsPath, stat: Stats): boolean {
    let known = this.#siblingsMemo.get(stat);
    if (known === undefined) {
      known = PRECOMPRESSED.some(({ suffix }) => this.root.lookup(withSuffix(fsPath, suffix)).kind === 'file');
      this.#siblingsMemo.set(stat, known);
    }
    return known;
  }

  #contentType(fsPath: FsPath): string {
    const ext = extname(pathText(fsPath)).toLowerCase();
    let type = this.#types.get(ext);
    if (type === undefined) {
      type = (ext === '' ? false : contentType(ext)) || 'application/octet-stream';
      this.#types.set(ext, type);
    }
    return type;
  }
}

function wholeSeconds(stat: Stats): number {
  return Math.floor(stat.mtimeMs / 1000);
}
