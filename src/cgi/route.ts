// Which request paths name CGI programs, and which part of the path is the
// script and which is PATH_INFO. Works on the decoded, normalised segments
// from http/path.ts, so `%2e%2e`, `/./` or `//` cannot move a path into or out
// of a CGI directory.

import type { Stats } from 'node:fs';
import { extname, join } from 'node:path';
import type { Lookup } from '../http/root';

export interface CgiRouting {
  /** URL folders (e.g. /cgi-bin) whose files are programs, nested folders included. */
  dirs: string[];
  /** Extensions that make a file a program anywhere under the root. */
  extensions: string[];
}

export type CgiRoute =
  | { kind: 'none' } // not a CGI URL: static files answer
  | { kind: 'script'; scriptName: string; scriptPath: string; pathInfo: string; stat: Stats }
  | { kind: 'missing' } // 404
  | { kind: 'forbidden' } // 403: outside the root through a symlink, or not a file
  | { kind: 'directory' }; // 403: a CGI folder itself is not listed

/** The number of leading segments that form a CGI directory, or 0. */
/** A CGI folder's segments, split once per folder (this runs for every request). */
const folderParts = new Map<string, string[]>();

function partsOf(dir: string): string[] {
  let parts = folderParts.get(dir);
  if (parts === undefined) {
    parts = dir.split('/').filter((p) => p !== '');
    folderParts.set(dir, parts);
  }
  return parts;
}

function cgiDirDepth(segments: string[], dirs: string[]): number {
  let best = 0;
  for (const dir of dirs) {
    const parts = partsOf(dir);
    if (parts.length === 0 || parts.length > segments.length || parts.length <= best) continue;
    if (parts.every((p, i) => segments[i] === p)) best = parts.length;
  }
  return best;
}

/**
 * Walk the segments from the root; the first one that is a file ends the
 * script name, the rest is PATH_INFO (RFC 3875 §4.1.5, §4.1.13), its
 * trailing slash kept (`/a.sh/` has PATH_INFO `/`, `/a.sh/x/` has `/x/`).
 */
export function routeCgi(
  root: string,
  segments: string[],
  routing: CgiRouting,
  lookup: (path: string) => Lookup,
  trailingSlash = false,
): CgiRoute {
  const depth = cgiDirDepth(segments, routing.dirs);
  const byExtension = routing.extensions.length > 0;
  if (depth === 0 && !byExtension) return { kind: 'none' };
  let path = root;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    path = join(path, segment);
    const found = lookup(path);
    if (found.kind === 'missing') return depth > 0 && i >= depth - 1 ? { kind: 'missing' } : { kind: 'none' };
    if (found.kind === 'directory') continue;
    const inCgiDir = depth > 0 && i >= depth;
    const hasCgiExt = byExtension && routing.extensions.includes(extname(segment).toLowerCase());
    if (!inCgiDir && !hasCgiExt) return { kind: 'none' };
    if (found.kind === 'forbidden') return { kind: 'forbidden' };
    const stat = found.stat;
    const rest = segments.slice(i + 1);
    return {
      kind: 'script',
      scriptName: '/' + segments.slice(0, i + 1).join('/'),
      scriptPath: path,
      pathInfo: rest.length === 0 ? (trailingSlash ? '/' : '') : `/${rest.join('/')}${trailingSlash ? '/' : ''}`,
      stat,
    };
  }
  return depth > 0 ? { kind: 'directory' } : { kind: 'none' };
}
