// RFC 9110 §13 (conditional requests) and §14 (range requests) for files:
// validators, the order preconditions are evaluated in, and byte ranges.

import type { Stats } from 'node:fs';
import fresh from 'fresh';
import parseRange from 'range-parser';
import type { Request } from '../http/request';

/** A strong validator from what stat says (nginx's shape: mtime and size, in hex). */
export function entityTag(stat: Stats, encoding: string | null): string {
  const base = `${Math.floor(stat.mtimeMs).toString(16)}-${stat.size.toString(16)}`;
  return encoding === null ? `"${base}"` : `"${base}-${encoding}"`;
}

export function httpDate(stat: Stats): string {
  return new Date(Math.floor(stat.mtimeMs / 1000) * 1000).toUTCString();
}

export type Precondition = 'proceed' | 'notModified' | 'preconditionFailed';

function tagList(value: string): string[] {
  return value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

function strongMatch(list: string, etag: string): boolean {
  return tagList(list).some((t) => t === '*' || (!t.startsWith('W/') && t === etag));
}

/**
 * RFC 9110 §13.2.2 for a representation without validators (a folder's
 * listing, rendered afresh each time): "*" in If-Match or If-None-Match asks
 * only whether it exists, which it does; a list of tags matches none (it has
 * no tag); the date conditions are ignored, as there is no date (§13.1.3, §13.1.4).
 */
export function preconditionsWithoutValidators(req: Request): Precondition {
  const ifMatch = req.headerList('if-match');
  if (ifMatch !== undefined && !tagList(ifMatch).includes('*')) return 'preconditionFailed';
  const inm = req.headerList('if-none-match');
  if (inm === undefined || !tagList(inm).includes('*')) return 'proceed';
  return req.method === 'GET' || req.method === 'HEAD' ? 'notModified' : 'preconditionFailed';
}

/** RFC 9110 §13.2.2: If-Match, then If-Unmodified-Since, then If-None-Match / If-Modified-Since. */
export function evaluatePreconditions(req: Request, etag: string, lastModified: string, mtimeMs: number): Precondition {
  const ifMatch = req.headerList('if-match');
  if (ifMatch !== undefined) {
    if (!strongMatch(ifMatch, etag)) return 'preconditionFailed';
  } else {
    const ius = req.header('if-unmodified-since');
    if (ius !== undefined) {
      const since = Date.parse(ius);
      if (!Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 > since) return 'preconditionFailed';
    }
  }
  const inm = req.headerList('if-none-match');
  const ims = req.header('if-modified-since');
  if (inm === undefined && ims === undefined) return 'proceed';
  const isRead = req.method === 'GET' || req.method === 'HEAD';
  // `fresh` implements the weak comparison of If-None-Match (incl. "*") and
  // ignores If-Modified-Since when If-None-Match is present (RFC 9110 §13.1.3).
  const requestHeaders: Record<string, string> = {};
  if (inm !== undefined) requestHeaders['if-none-match'] = inm;
  if (ims !== undefined) requestHeaders['if-modified-since'] = ims;
  const matches = fresh(requestHeaders, { etag, 'last-modified': lastModified });
  if (!matches) return 'proceed';
  return isRead ? 'notModified' : 'preconditionFailed';
}

export type RangeVerdict =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number } // end inclusive
  | { kind: 'unsatisfiable' };

/** RFC 9110 §14.2: one range is served as 206; several, or a malformed header, as the full 200. */
export function evaluateRange(req: Request, size: number, etag: string, lastModified: string): RangeVerdict {
  const header = req.header('range');
  if (header === undefined || req.method !== 'GET') return { kind: 'full' };
  // Range is not a list (RFC 9110 §5.3): two fields combine into no valid value, ignored (§14.2).
  if (req.headerCount('range') > 1) return { kind: 'full' };
  // RFC 9110 §13.1.5: If-Range with a stale validator means "send it all".
  const ifRange = req.header('if-range');
  if (ifRange !== undefined) {
    const value = ifRange.trim();
    const ok = value.startsWith('"') ? value === etag : value === lastModified;
    if (!ok) return { kind: 'full' };
  }
  const specs = rangeSpecs(header);
  // Another unit, or not the grammar of RFC 9110 §14.1.1 (`bytes=5-2`,
  // `bytes=abc`, `bytes=0x1-5`): ignored, the whole 200, as §14.2 allows; a
  // 416 says the ranges were understood and lie outside the representation.
  if (specs === null) return { kind: 'full' };
  // §14.1.1: a zero-length representation satisfies only a non-zero suffix
  // range, which selects all of it: nothing a Content-Range can name, so 200.
  if (size === 0) return specs.some((spec) => /^-0*[1-9]/.test(spec)) ? { kind: 'full' } : { kind: 'unsatisfiable' };
  // A suffix longer than the representation selects all of it; range-parser
  // 1.2.1 drops such a range instead, so say "0-" for it.
  const normalized = specs.map((spec) => (spec.startsWith('-') && Number(spec.slice(1)) >= size ? '0-' : spec));
  const ranges = parseRange(size, `bytes=${normalized.join(',')}`, { combine: true });
  if (ranges === -1) return { kind: 'unsatisfiable' };
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return { kind: 'full' };
  const range = ranges[0] as { start: number; end: number };
  return { kind: 'partial', start: range.start, end: range.end };
}

/**
 * The range-specs of a `bytes` Range (RFC 9110 §14.1.1: `first-pos "-"
 * [last-pos]` or `"-" suffix-length`, digits only, a list with optional
 * whitespace and empty elements), or null when the unit is another or the
 * value is not that grammar. The unit compares case-insensitively (§14.1).
 */
export function rangeSpecs(value: string): string[] | null {
  const eq = value.indexOf('=');
  if (eq < 0 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return null;
  const specs: string[] = [];
  for (const element of value.slice(eq + 1).split(',')) {
    const spec = element.trim();
    if (spec === '') continue;
    const m = /^(\d*)-(\d*)$/.exec(spec);
    if (m === null) return null;
    const [, first = '', last = ''] = m;
    if (first === '' && last === '') return null;
    if (first !== '' && last !== '' && Number(last) < Number(first)) return null;
    specs.push(spec);
  }
  return specs.length === 0 ? null : specs;
}

/**
 * How much a client wants `coding`, from Accept-Encoding (RFC 9110 §12.5.3):
 * its qvalue, that of `*` when it is not named, 0 when neither (or no header).
 */
export function encodingQuality(req: Request, coding: string): number {
  const header = req.headerList('accept-encoding');
  if (header === undefined) return 0;
  let wildcard = 0;
  for (const part of header.split(',')) {
    const [nameRaw, ...params] = part.split(';');
    const name = (nameRaw ?? '').trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (!(q >= 0 && q <= 1)) q = 0; // not a qvalue (§12.4.2): not a preference to act on
    if (name === coding) return q;
    if (name === '*') wildcard = q;
  }
  return wildcard;
}
