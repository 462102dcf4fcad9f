// What goes on the wire for a response head: status lines, the cached Date,
// header serialisation and the canned error pages. Pure: no sockets here.

import { STATUS_CODES } from 'node:http';
import escapeHtml from 'escape-html';
import { SERVER_NAME, SERVER_VERSION } from '../version';
import type { BodyFraming } from './exchange';

export { SERVER_NAME, SERVER_VERSION } from '../version';
export const CRLF = '\r\n';
export const SERVER_HEADER = `Server: ${SERVER_NAME}/${SERVER_VERSION}\r\n`;

/** A header list as [name, value] pairs, in the order they go out. */
export type HeaderList = Array<[string, string]>;

export function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

/** The version porta answers with: HTTP/1.1, or 1.0 when told (-p HTTP/1.0). */
export type ResponseVersion = '1.0' | '1.1';

const statusLines = new Map<number, string>();
export function statusLine(status: number, version: ResponseVersion = '1.1'): string {
  const key = version === '1.1' ? status : -status;
  let line = statusLines.get(key);
  if (line === undefined) {
    line = `HTTP/${version} ${status} ${statusText(status)}\r\n`;
    statusLines.set(key, line);
  }
  return line;
}

// RFC 9110 §6.6.1: one Date per second is exact enough, and formatting it per
// request shows up in profiles.
let lineSecond = -1;
let dateLine = '';
export function dateHeaderLine(): string {
  dateSecond();
  return dateLine;
}

/** The second the Date line names (brought up to now first): heads built in it may be reused within it. */
export function dateSecond(): number {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lineSecond) {
    lineSecond = second;
    dateLine = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return second;
}

/** Field values must not smuggle a line break into the head (RFC 9110 §5.5). */
export function isSafeFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) return false;
  }
  return true;
}

/** How a response head frames its body (the framing field it carries). */
export type HeadFraming =
  | { kind: 'length'; length: number } // Content-Length
  | { kind: 'chunked' } // Transfer-Encoding: chunked
  | { kind: 'none' }; // no framing field: no body, or a body that ends with the connection

export interface HeadSpec {
  status: number;
  /** The handler's fields, in order; values already checked with isSafeFieldValue. */
  fields: HeaderList;
  framing: HeadFraming;
  /** 'close' after this response; 'keep-alive' said explicitly (HTTP/1.0 clients); null says nothing. */
  connection: 'close' | 'keep-alive' | null;
  /**
   * Leave the header block open: a CGI program with the socket as its stdout
   * writes the rest of the fields and the empty line itself (socket mode).
   */
  open?: boolean;
  /** HTTP/1.1 unless porta answers as 1.0. */
  version?: ResponseVersion;
}

/**
 * The one writer of response heads: every response porta sends, the canned
 * error answers and the socket-mode hand-off included, starts with this.
 * Status line and Date/Server first, then the handler's fields, then framing
 * and Connection, which are porta's alone (RFC 9112 §6, §9.6).
 */
export function buildHead(spec: HeadSpec): string {
  let head = statusLine(spec.status, spec.version) + dateHeaderLine() + SERVER_HEADER;
  for (const [name, value] of spec.fields) head += `${name}: ${value}\r\n`;
  const framing = spec.framing;
  if (framing.kind === 'length') head += `Content-Length: ${framing.length}\r\n`;
  else if (framing.kind === 'chunked') head += 'Transfer-Encoding: chunked\r\n';
  if (spec.connection === 'close') head += 'Connection: close\r\n';
  else if (spec.connection === 'keep-alive') head += 'Connection: keep-alive\r\n';
  return spec.open === true ? head : head + CRLF;
}

/**
 * A handler's fields made ready for the head: Connection is porta's to write
 * (RFC 9112 §9.6), so it is taken out and only its "close" kept; a value that
 * could break a line into the head (RFC 9110 §5.5) refuses the lot. Names
 * are porta's own constants, or a program's, already checked as tokens
 * (cgi/response.ts).
 */
export function handlerFields(headers: HeaderList): { fields: HeaderList; close: boolean } | { unsafe: string } {
  const fields: HeaderList = [];
  let close = false;
  for (const field of headers) {
    const [name, value] = field;
    if (!isSafeFieldValue(value)) return { unsafe: name };
    if (name.length === 10 && name.toLowerCase() === 'connection') close ||= /\bclose\b/i.test(value);
    else fields.push(field);
  }
  return { fields, close };
}

/**
 * How a response's body is delimited (RFC 9112 §6.3): by its Content-Length,
 * by chunks (`chunkedOk`: an HTTP/1.1 client and answer), or by the close.
 * 204 and 304 never have a body (RFC 9110 §15.3.5, §15.4.5).
 */
export function responseFraming(
  status: number,
  framing: BodyFraming,
  chunkedOk: boolean,
): { head: HeadFraming; bodyless: boolean; closeDelimited: boolean } {
  const bodyless = status === 204 || status === 304 || framing.kind === 'none';
  if (bodyless) return { head: { kind: 'none' }, bodyless, closeDelimited: false };
  if (framing.kind === 'length') return { head: framing, bodyless, closeDelimited: false };
  if (chunkedOk) return { head: { kind: 'chunked' }, bodyless, closeDelimited: false };
  return { head: { kind: 'none' }, bodyless, closeDelimited: true };
}

/** A small HTML page for an error status; `detail` is escaped. */
export function errorPage(status: number, detail: string): string {
  const title = `${status} ${escapeHtml(statusText(status))}`;
  const body = detail === '' ? '' : `<p>${escapeHtml(detail)}</p>\n`;
  return (
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n` +
    `<body><h1>${title}</h1>\n${body}<hr><address>${SERVER_NAME}/${SERVER_VERSION}</address></body></html>\n`
  );
}

export const ERROR_PAGE_TYPE = 'text/html; charset=utf-8';

/**
 * A complete error response that ends the connection: the form used for
 * requests that never reached a handler (RFC 9112 §9.6, Connection: close).
 */
export function closingErrorResponse(
  status: number,
  detail: string,
  extra: HeaderList,
  options: { headOnly: boolean; version: ResponseVersion },
): { bytes: Buffer; bodyBytes: number } {
  const page = Buffer.from(errorPage(status, detail), 'utf8');
  const head = buildHead({
    status,
    fields: [...extra, ['Content-Type', ERROR_PAGE_TYPE]],
    framing: { kind: 'length', length: page.length },
    connection: 'close',
    version: options.version,
  });
  const headBytes = Buffer.from(head, 'latin1');
  // The log counts body bytes, as for every answer: the page after the head.
  if (options.headOnly) return { bytes: headBytes, bodyBytes: 0 };
  return { bytes: Buffer.concat([headBytes, page]), bodyBytes: page.length };
}
