// The one function that turns a request path into a file path, and the check
// that what it names is really inside the root. Static files and CGI both go
// through here, so one test suite guards every way of escaping the root.

import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';

export type PathVerdict =
  | { kind: 'ok'; segments: string[]; fsPath: string; trailingSlash: boolean }
  | { kind: 'bad'; reason: string } // 400: malformed or escaping the root
  | { kind: 'hidden'; reason: string }; // 404: exists or not, we do not serve it

export interface PathOptions {
  /** Serve names starting with '.' (except `.` and `..`, which are never names). */
  dotfiles: boolean;
}

/**
 * Decode `urlPath` (the path of an origin-form target, percent-encoded) and map
 * it under `root`. Dot segments are resolved as RFC 3986 §5.2.4 says; one that
 * would climb above the root is refused, not clamped, since no honest client
 * sends it (they resolve dot segments before sending).
 */
export function resolveRequestPath(root: string, urlPath: string, options: PathOptions): PathVerdict {
  if (!urlPath.startsWith('/')) return { kind: 'bad', reason: 'path must start with /' };
  const rawSegments = urlPath.split('/');
  const segments: string[] = [];
  for (let i = 1; i < rawSegments.length; i++) {
    const raw = rawSegments[i] as string;
    let segment = raw;
    if (raw.includes('%')) {
      // An encoded slash or backslash would let one segment act as two (Apache's
      // AllowEncodedSlashes Off answers 404 the same way).
      if (/%(?:2f|5c)/i.test(raw)) return { kind: 'hidden', reason: 'encoded slash in path' };
      try {
        segment = decodeURIComponent(raw);
      } catch {
        return { kind: 'bad', reason: 'malformed percent-encoding' };
      }
    }
    if (segment.includes('\0')) return { kind: 'bad', reason: 'NUL byte in path' };
    if (segment.includes('\\')) return { kind: 'bad', reason: 'backslash in path' };
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return { kind: 'bad', reason: 'path climbs above the root' };
      segments.pop();
      continue;
    }
    if (segment.startsWith('.') && !options.dotfiles && segment !== '.well-known') {
      return { kind: 'hidden', reason: 'dotfile' };
    }
    segments.push(segment);
  }
  const trailingSlash = urlPath.endsWith('/');
  // The segments are already normalised (no '', '.', '..', no separator inside):
  // joining them needs no path.join.
  const fsPath = segments.length === 0 ? root : (root.endsWith(sep) ? root : root + sep) + segments.join(sep);
  return { kind: 'ok', segments, fsPath, trailingSlash };
}

/**
 * Does `fsPath`, with every symlink followed, stay inside `realRoot` (itself a
 * realpath)? A link that leads out of the root is treated as absent.
 */
export async function staysInside(realRoot: string, fsPath: string): Promise<boolean> {
  let real: string;
  try {
    real = await realpath(fsPath);
  } catch {
    return true; // does not exist (yet): the caller's stat reports that
  }
  return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}
