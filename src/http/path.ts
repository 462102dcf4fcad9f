// The one function that turns a request path into a file path. Static files
// and CGI both go through here (and through DocumentRoot, root.ts, for what is
// really on disk), so one test suite guards every way of escaping the root.
//
// File names are bytes. A name that is not UTF-8 (`caf\xE9.txt` from an older
// disk) is reached with its raw bytes percent-encoded (`caf%E9.txt`), as
// nginx, lighttpd and Apache do: such a path comes back as a Buffer.

import { sep } from 'node:path';

/** A path on disk: a string when it is UTF-8, its raw bytes otherwise. */
export type FsPath = string | Buffer;

export type PathVerdict =
  | { kind: 'ok'; segments: string[]; fsPath: FsPath; trailingSlash: boolean }
  | { kind: 'bad'; reason: string } // 400: malformed or escaping the root
  | { kind: 'hidden'; reason: string }; // 404: exists or not, we do not serve it

export interface PathOptions {
  /** Serve names starting with '.' (except `.` and `..`, which are never names). */
  dotfiles: boolean;
}

const SEPARATOR = Buffer.from(sep);

/**
 * Decode `urlPath` (the path of an origin-form target, percent-encoded, as
 * bytes in latin1) and map it under `root`. Dot segments are resolved as RFC
 * 3986 §5.2.4 says; one that would climb above the root is refused, not
 * clamped, since no honest client sends it (they resolve dot segments first).
 * `segments` are the decoded names as text (for routing and display); a name
 * that is not UTF-8 shows there with U+FFFD and makes `fsPath` a Buffer.
 */
export function resolveRequestPath(root: string, urlPath: string, options: PathOptions): PathVerdict {
  if (!urlPath.startsWith('/')) return { kind: 'bad', reason: 'path must start with /' };
  const rawSegments = urlPath.split('/');
  const segments: string[] = [];
  // A segment's raw bytes where they are not its UTF-8 text (else null: most
  // paths are text, and need no Buffer per segment).
  const bytes: Array<Buffer | null> = [];
  let textual = true;
  for (let i = 1; i < rawSegments.length; i++) {
    const raw = rawSegments[i] as string;
    let segment = raw;
    let segmentBytes: Buffer | null = null;
    if (raw.includes('%') || hasHighBytes(raw)) {
      // An encoded slash or backslash would let one segment act as two (Apache's
      // AllowEncodedSlashes Off answers 404 the same way).
      if (/%(?:2f|5c)/i.test(raw)) return { kind: 'hidden', reason: 'encoded slash in path' };
      const decoded = percentDecode(raw);
      if (decoded === null) return { kind: 'bad', reason: 'malformed percent-encoding' };
      segment = decoded.toString('utf8');
      if (!Buffer.from(segment, 'utf8').equals(decoded)) segmentBytes = decoded; // not UTF-8
    }
    if (segment.includes('\0')) return { kind: 'bad', reason: 'NUL byte in path' };
    if (segment.includes('\\')) return { kind: 'bad', reason: 'backslash in path' };
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return { kind: 'bad', reason: 'path climbs above the root' };
      segments.pop();
      bytes.pop();
      continue;
    }
    if (segment.startsWith('.') && !options.dotfiles && segment !== '.well-known') {
      return { kind: 'hidden', reason: 'dotfile' };
    }
    segments.push(segment);
    bytes.push(segmentBytes);
    if (segmentBytes !== null) textual = false;
  }
  const trailingSlash = urlPath.endsWith('/');
  // The segments are already normalised (no '', '.', '..', no separator inside):
  // joining them needs no path.join.
  const base = root.endsWith(sep) ? root : root + sep;
  let fsPath: FsPath;
  if (segments.length === 0) fsPath = root;
  else if (textual) fsPath = base + segments.join(sep);
  else {
    const parts: Buffer[] = [Buffer.from(base, 'utf8')];
    for (const [i, raw] of bytes.entries()) {
      const b = raw ?? Buffer.from(segments[i] as string, 'utf8');
      parts.push(i === 0 ? b : Buffer.concat([SEPARATOR, b]));
    }
    fsPath = Buffer.concat(parts);
  }
  return { kind: 'ok', segments, fsPath, trailingSlash };
}

function hasHighBytes(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return true;
  return false;
}

/** %XX → the byte; other characters are the request's bytes (latin1). Null when a % is malformed. */
function percentDecode(raw: string): Buffer | null {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 0x25) {
      out[n++] = c & 0xff;
      continue;
    }
    const hi = hexValue(raw.charCodeAt(i + 1));
    const lo = hexValue(raw.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    out[n++] = hi * 16 + lo;
    i += 2;
  }
  return out.subarray(0, n);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * RFC 3986 §5.2.4 remove_dot_segments on a path still percent-encoded (a
 * dot may be spelled %2e), empty segments dropped as the lookup drops them;
 * a path that ended in a dot segment names a folder and ends with a slash.
 * For a Location built from the client's path.
 */
export function withoutDotSegments(urlPath: string): string {
  const out: string[] = [];
  const raw = urlPath.split('/');
  let folder = false;
  for (let i = 1; i < raw.length; i++) {
    const segment = (raw[i] as string).replace(/%2e/gi, '.');
    folder = segment === '.' || segment === '..';
    if (segment === '..') out.pop();
    else if (segment !== '.' && segment !== '') out.push(raw[i] as string);
  }
  const path = `/${out.join('/')}`;
  return (folder || urlPath.endsWith('/')) && out.length > 0 ? `${path}/` : path;
}

/** Bytes of a name in a URL path: unreserved characters as they are, every other byte %XX (RFC 3986 §2.1). */
export function percentEncodeName(name: Buffer): string {
  let out = '';
  for (const b of name) {
    const unreserved =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d ||
      b === 0x2e ||
      b === 0x5f ||
      b === 0x7e;
    out += unreserved ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A key for maps of paths: the string itself, or the bytes behind a NUL (never in a real path). */
export function pathKey(path: FsPath): string {
  return typeof path === 'string' ? path : `\0${path.toString('latin1')}`;
}

/** `path` + a name appended, keeping bytes as bytes. */
export function childPath(path: FsPath, name: string): FsPath {
  if (typeof path === 'string') return path.endsWith(sep) ? path + name : path + sep + name;
  return Buffer.concat([path, SEPARATOR, Buffer.from(name, 'utf8')]);
}

/** `path` with a suffix (a precompressed sibling's `.gz`), keeping bytes as bytes. */
export function withSuffix(path: FsPath, suffix: string): FsPath {
  return typeof path === 'string' ? path + suffix : Buffer.concat([path, Buffer.from(suffix, 'latin1')]);
}

/** Text of a path for messages and extensions (lossy for non-UTF-8 names). */
export function pathText(path: FsPath): string {
  return typeof path === 'string' ? path : path.toString('utf8');
}

/** Paths up to this long are remembered by RequestPaths (longer ones are rare, and would make the memo big). */
const REMEMBERED_PATH_LENGTH = 256;
const REMEMBERED_PATHS = 1024;

/**
 * resolveRequestPath for one root and one set of options, remembering the
 * answers for recent paths: a function of its arguments alone, and most
 * requests ask for a path asked for a moment ago. Remembered verdicts are
 * frozen (handlers share them); byte paths (not UTF-8) are not remembered.
 */
export class RequestPaths {
  readonly #root: string;
  readonly #options: PathOptions;
  readonly #remembered = new Map<string, PathVerdict>();

  constructor(root: string, options: PathOptions) {
    this.#root = root;
    this.#options = { ...options };
  }

  resolve(urlPath: string): PathVerdict {
    const known = this.#remembered.get(urlPath);
    if (known !== undefined) return known;
    const verdict = resolveRequestPath(this.#root, urlPath, this.#options);
    if (urlPath.length <= REMEMBERED_PATH_LENGTH && !(verdict.kind === 'ok' && typeof verdict.fsPath !== 'string')) {
      if (verdict.kind === 'ok') Object.freeze(verdict.segments);
      if (this.#remembered.size >= REMEMBERED_PATHS) this.#remembered.clear();
      this.#remembered.set(urlPath, Object.freeze(verdict));
    }
    return verdict;
  }
}
