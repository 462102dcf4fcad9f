// What the static handler decided, in words, for the trace (--trace, the flow
// page): which file answers a path, its validators, and why the status is
// 200, 206, 304, 404... Called only while something traces: nothing here runs
// on the hot path when tracing is off.

import type { Stats } from 'node:fs';
import { relative } from 'node:path';
import type { Exchange } from '../http/exchange';
import { type FsPath, pathText } from '../http/path';
import type { BodyRoute } from './body';

const ROUTES: Record<BodyRoute, string> = {
  none: 'no body to send (HEAD, or an empty file)',
  memory: 'the body from memory (the small-file cache)',
  read: 'the body read whole, then kept in memory',
  sendfile: 'the body by sendfile(2), from the page cache straight to the socket',
  stream: 'the body streamed through Node, as fast as the client takes it',
};

/** A path as the learner knows it: under the document root. */
function shown(realRoot: string, fsPath: FsPath): string {
  const path = pathText(fsPath);
  const under = relative(realRoot, path);
  return under === '' ? '.' : under.startsWith('..') ? path : under;
}

export interface FileFacts {
  realRoot: string;
  fsPath: FsPath;
  stat: Stats;
  etag: string;
  lastModified: string;
  coding: string | null;
}

/** The request maps to no file it may have: 400, 403, 404, 405... */
export function traceRefusal(exchange: Exchange, status: number, why: string): void {
  exchange.trace?.('dispatch', `static: ${exchange.request.path} → ${status}, ${why}`, {
    handler: 'static',
    status,
    why,
  });
}

/** A file answers: which, its validators, the status and why, and how the body leaves. */
export function traceFile(
  exchange: Exchange,
  facts: FileFacts,
  status: number,
  why: string,
  range: { start: number; end: number } | null,
  route: BodyRoute | null,
): void {
  const trace = exchange.trace;
  if (trace === null || trace === undefined) return;
  const file = shown(facts.realRoot, facts.fsPath);
  const coding = facts.coding === null ? '' : `, ${facts.coding}-encoded sibling`;
  const how = route === null ? '' : `; ${ROUTES[route]}`;
  trace(
    'dispatch',
    `static: ${exchange.request.path} is ${file} (${facts.stat.size} bytes${coding}, ETag ${facts.etag}, ` +
      `Last-Modified ${facts.lastModified}) → ${status}, ${why}${how}`,
    {
      handler: 'static',
      file,
      size: facts.stat.size,
      etag: facts.etag,
      lastModified: facts.lastModified,
      coding: facts.coding,
      status,
      why,
      range,
      body: route,
    },
  );
}

/** Why a conditional GET got 304 (RFC 9110 §13.1.2, §13.1.3): which header matched. */
export function notModifiedWhy(exchange: Exchange): string {
  return exchange.request.header('if-none-match') !== undefined
    ? 'not modified: If-None-Match names the current ETag'
    : 'not modified: nothing changed since If-Modified-Since';
}
