// Every kind of request the chaos clients send, with what must come back.
// A request is identified by a key (kind + target, not its body): the server's
// answer head to a key is fetched once at start (the reference) and every later
// answer to that key must match it byte for byte, Date aside. Bodies are known
// from the site itself (file bytes, slices, program output, the echoed body).

import type { Rng } from './rng';
import type { Script, Site, SiteFile } from './site';

export type Mode = 'socket' | 'pipe';

export const KINDS = [
  'small',
  'large',
  'range',
  'cond304',
  'head',
  'listing',
  'index',
  'redirect',
  'notfound',
  'cgi-hello',
  'cgi-big',
  'cgi-head',
  'nph',
  'post-length',
  'post-chunked',
  'expect-100',
  'py-echo',
] as const;
export type Kind = (typeof KINDS)[number];

export const BAD_KINDS = [
  'bad-garbage',
  'bad-header-size',
  'bad-chunked',
  'bad-truncated',
  'bad-smuggle',
  'bad-version',
  'bad-path',
  'bad-method',
] as const;
export type BadKind = (typeof BAD_KINDS)[number];

/** How often each kind is chosen. */
export const WEIGHTS: ReadonlyArray<readonly [Kind, number]> = [
  ['small', 10],
  ['large', 1.5],
  ['range', 6],
  ['cond304', 5],
  ['head', 4],
  ['listing', 3],
  ['index', 2],
  ['redirect', 1],
  ['notfound', 1],
  ['cgi-hello', 4],
  ['cgi-big', 1],
  ['cgi-head', 1],
  ['nph', 2],
  ['post-length', 3],
  ['post-chunked', 3],
  ['expect-100', 2],
  ['py-echo', 0.3],
];

export interface Expectation {
  /** The answer is framed by the connection's close (CGI in socket mode, nph-). */
  closeFramed: boolean;
  isHead: boolean;
  status: number;
  /**
   * The expected body; for close-framed answers, every byte after porta's own
   * head (the program's whole output). 'learn': taken from the reference.
   */
  truth: Buffer | 'learn';
}

export interface Req extends Expectation {
  kind: Kind;
  key: string;
  head: Buffer;
  /** Exactly as sent (chunk-encoded for post-chunked). */
  body: Buffer;
  expect100: boolean;
  /** Short description for failure messages. */
  line: string;
}

export interface Ctx {
  site: Site;
  mode: Mode;
  /** ETag of each file, from the reference GETs. */
  etags: Map<string, string>;
  /** Keys whose reference could not be fetched; never chosen. */
  excluded: Set<string>;
  /** Kinds never chosen (--skip, for narrowing down a failure). */
  skipped: ReadonlySet<Kind | BadKind>;
}

const CGI_KINDS: ReadonlySet<Kind> = new Set([
  'cgi-hello',
  'cgi-big',
  'post-length',
  'post-chunked',
  'expect-100',
  'py-echo',
]);

export function isCloseFramed(kind: Kind, mode: Mode): boolean {
  return kind === 'nph' || (mode === 'socket' && CGI_KINDS.has(kind));
}

function files(site: Site): SiteFile[] {
  return [...site.small, ...site.large];
}

export function targetCount(ctx: Ctx, kind: Kind): number {
  switch (kind) {
    case 'small':
      return ctx.site.small.length;
    case 'large':
      return ctx.site.large.length;
    case 'range':
      return ctx.site.ranges.length;
    case 'cond304':
    case 'head':
      return files(ctx.site).length;
    case 'py-echo':
      return ctx.site.pyEcho === null ? 0 : 1;
    default:
      return 1;
  }
}

function requestHead(method: string, url: string, extra: string[] = []): Buffer {
  return Buffer.from(`${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra.map((h) => `${h}\r\n`).join('')}\r\n`);
}

export function chunked(payload: Buffer, rng: Rng | null): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos < payload.length) {
    const size = rng === null ? payload.length : rng.int(1, Math.max(1, Math.ceil(payload.length / rng.int(1, 8))));
    const piece = payload.subarray(pos, pos + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    pos += piece.length;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A request body for the echo scripts: mostly small, sometimes up to 256 KiB. */
export function payload(rng: Rng, min = 0): Buffer {
  const r = rng.next();
  // 1 in 40 past cgiBodyMemory (1 MiB): spooled to a temp file before the
  // program starts, where a client leaving mid-upload once crashed porta.
  if (r >= 0.975) return rng.bytes(rng.int(MiB + 1, MiB + 512 * 1024));
  const max = r < 0.5 ? 1024 : r < 0.9 ? 64 * 1024 : 256 * 1024;
  return rng.bytes(rng.int(min, max));
}

const MiB = 1024 * 1024;

function program(
  ctx: Ctx,
  kind: Kind,
  script: Script,
  body: Buffer,
): Pick<Req, 'closeFramed' | 'truth' | 'status' | 'isHead'> {
  const closeFramed = isCloseFramed(kind, ctx.mode);
  return { closeFramed, isHead: false, status: 200, truth: closeFramed ? Buffer.concat([script.header, body]) : body };
}

function file(list: SiteFile[], n: number): SiteFile {
  const f = list[n];
  if (f === undefined) throw new Error(`no file ${n}`);
  return f;
}

/** Request `n` of `kind`; `body` is used by the POST kinds; `rng` splits chunked bodies (null: one chunk). */
export function makeReq(ctx: Ctx, kind: Kind, n: number, body: Buffer, rng: Rng | null): Req {
  const { site } = ctx;
  const key = `${kind}|${n}`;
  const base = { kind, key, body: Buffer.alloc(0), expect100: false };
  const get = (url: string, truth: Buffer | 'learn', status = 200, extra: string[] = []) => {
    const head = requestHead('GET', url, extra);
    const line = `GET ${url}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
    return { ...base, head, line, closeFramed: false, isHead: false, status, truth };
  };
  switch (kind) {
    case 'small':
    case 'large': {
      const f = file(kind === 'small' ? site.small : site.large, n);
      return get(f.url, f.bytes);
    }
    case 'range': {
      const r = site.ranges[n];
      if (r === undefined) throw new Error(`no range ${n}`);
      return get(r.file.url, r.file.bytes.subarray(r.start, r.end + 1), 206, [`Range: ${r.header}`]);
    }
    case 'cond304': {
      const f = file(files(site), n);
      const etag = ctx.etags.get(f.url);
      if (etag === undefined) throw new Error(`no ETag known for ${f.url}`);
      return get(f.url, Buffer.alloc(0), 304, [`If-None-Match: ${etag}`]);
    }
    case 'head': {
      const f = file(files(site), n);
      const head = requestHead('HEAD', f.url);
      return {
        ...base,
        head,
        line: `HEAD ${f.url}`,
        closeFramed: false,
        isHead: true,
        status: 200,
        truth: Buffer.alloc(0),
      };
    }
    case 'listing':
      return get(site.listingUrl, 'learn');
    case 'index':
      return get(site.index.url, site.index.bytes);
    case 'redirect':
      return get(site.listingUrl.replace(/\/$/, ''), 'learn', 301);
    case 'notfound':
      return get('/files/no-such-file.txt', 'learn', 404);
    case 'cgi-hello':
    case 'cgi-big': {
      const script = kind === 'cgi-hello' ? site.hello : site.big;
      return {
        ...base,
        head: requestHead('GET', script.url),
        line: `GET ${script.url}`,
        ...program(ctx, kind, script, script.body),
      };
    }
    case 'cgi-head':
      return {
        ...base,
        head: requestHead('HEAD', site.hello.url),
        line: `HEAD ${site.hello.url}`,
        closeFramed: false,
        isHead: true,
        status: 200,
        truth: Buffer.alloc(0),
      };
    case 'nph':
      // porta writes nothing of its own: the expected bytes are the program's output.
      return {
        ...base,
        head: requestHead('GET', site.nph.url),
        line: `GET ${site.nph.url}`,
        closeFramed: true,
        isHead: false,
        status: 200,
        truth: Buffer.concat([site.nph.header, site.nph.body]),
      };
    case 'post-length':
    case 'expect-100':
    case 'py-echo': {
      const script = kind === 'py-echo' ? site.pyEcho : site.echo;
      if (script === null) throw new Error('no python3 here');
      const extra = ['Content-Type: application/octet-stream', `Content-Length: ${body.length}`];
      if (kind === 'expect-100') extra.push('Expect: 100-continue');
      return {
        ...base,
        head: requestHead('POST', script.url, extra),
        body,
        expect100: kind === 'expect-100',
        line: `POST ${script.url} (${kind}, ${body.length} bytes)`,
        ...program(ctx, kind, script, body),
      };
    }
    case 'post-chunked': {
      const extra = ['Content-Type: application/octet-stream', 'Transfer-Encoding: chunked'];
      return {
        ...base,
        head: requestHead('POST', site.echo.url, extra),
        body: chunked(body, rng),
        line: `POST ${site.echo.url} (chunked, ${body.length} bytes)`,
        ...program(ctx, kind, site.echo, body),
      };
    }
  }
}

/** One request of each key of `kinds`, for fetching the references. */
export function templates(ctx: Ctx, kinds: readonly Kind[]): Req[] {
  const sample = Buffer.from('chaos reference body\n');
  return kinds.flatMap((kind) =>
    Array.from({ length: targetCount(ctx, kind) }, (_, n) => makeReq(ctx, kind, n, sample, null)),
  );
}

/** A random request of `kind` whose reference is known, or null. */
export function randomReq(rng: Rng, ctx: Ctx, kind: Kind): Req | null {
  const count = ctx.skipped.has(kind) ? 0 : targetCount(ctx, kind);
  if (count === 0) return null;
  for (let tries = 0; tries < 8; tries++) {
    const n = rng.int(0, count - 1);
    if (ctx.excluded.has(`${kind}|${n}`)) continue;
    const body = kind === 'post-length' || kind === 'post-chunked' || kind === 'expect-100' || kind === 'py-echo';
    return makeReq(ctx, kind, n, body ? payload(rng, kind === 'expect-100' ? 1 : 0) : Buffer.alloc(0), rng);
  }
  return null;
}

/** Bad input, for the aborters only: nothing about the answer is checked. */
export function makeBad(rng: Rng, ctx: Ctx, kind: BadKind): { kind: BadKind; bytes: Buffer; line: string } {
  const echo = ctx.site.echo.url;
  const some = rng.pick(ctx.site.small).url;
  let text: string | Buffer;
  switch (kind) {
    case 'bad-garbage':
      text = Buffer.concat([rng.bytes(rng.int(1, 300)), Buffer.from('\r\n\r\n')]);
      break;
    case 'bad-header-size':
      text = `GET ${some} HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(16 * 1024 + rng.int(1, 8192))}\r\n\r\n`;
      break;
    case 'bad-chunked':
      text = `POST ${echo} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n${rng.pick(['zz', '-1', '3;\x01', 'ffffffffffffffffff', '5\r\nab'])}\r\n0\r\n\r\n`;
      break;
    case 'bad-truncated': {
      const body = payload(rng, 1);
      const head = `POST ${echo} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length + rng.int(1, 5000)}\r\n\r\n`;
      return { kind, bytes: Buffer.concat([Buffer.from(head), body]), line: `POST ${echo} (truncated body)` };
    }
    case 'bad-smuggle':
      text = `POST ${echo} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`;
      break;
    case 'bad-version':
      text = `GET ${some} HTTP/${rng.pick(['1.9', '2.0', '0.9', 'x'])}\r\nHost: x\r\n\r\n`;
      break;
    case 'bad-path':
      text = `GET ${rng.pick(['/%zz', '/../../../etc/passwd', '/files/%00', '/cgi-bin/../cgi-bin/hello.sh/..%2f..%2f', '*'])} HTTP/1.1\r\nHost: x\r\n\r\n`;
      break;
    case 'bad-method':
      text = `${rng.pick(['BREW', 'DELETE', 'PUT', 'CONNECT'])} ${some} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd`;
      break;
  }
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return { kind, bytes, line: bytes.subarray(0, 60).toString('latin1').split('\r\n')[0] ?? '' };
}
