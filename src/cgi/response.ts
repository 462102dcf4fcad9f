// Reading a program's answer in pipe mode (RFC 3875 §6): the header block,
// then what kind of response it is. Line ends may be LF or CRLF (§6.3 asks for
// NL; many scripts print CRLF); porta always sends CRLF on.

import type { HeaderList } from '../http/response';

/** `headers` never holds Content-Length: `contentLength` is that, checked (null when absent). */
export type CgiResponse =
  | { kind: 'document'; status: number; reason: string | null; headers: HeaderList; contentLength: number | null } // §6.2.1
  | { kind: 'localRedirect'; location: string } // §6.2.2
  | {
      kind: 'clientRedirect';
      status: number;
      reason: string | null;
      headers: HeaderList;
      contentLength: number | null;
    } // §6.2.3, §6.2.4
  | { kind: 'sendfile'; path: string; status: number; headers: HeaderList } // X-Sendfile
  | { kind: 'invalid'; reason: string };

export type HeadParse =
  | { kind: 'more' } // separator not seen yet
  | { kind: 'done'; response: CgiResponse; body: Buffer } // body: bytes after the separator
  | { kind: 'invalid'; reason: string };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Collects stdout until the blank line; bounded by `maxSize`. */
export class CgiHeadParser {
  readonly #maxSize: number;
  #buffer: Buffer = Buffer.alloc(0);

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  push(chunk: Buffer): HeadParse {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const buf = this.#buffer;
    const end = findBlankLine(buf);
    if (end === null) {
      if (buf.length > this.#maxSize) return { kind: 'invalid', reason: `header block over ${this.#maxSize} bytes` };
      return { kind: 'more' };
    }
    if (end.headEnd > this.#maxSize) return { kind: 'invalid', reason: `header block over ${this.#maxSize} bytes` };
    const response = interpret(buf.subarray(0, end.headEnd).toString('latin1'));
    if (response.kind === 'invalid') return { kind: 'invalid', reason: response.reason };
    return { kind: 'done', response, body: buf.subarray(end.bodyStart) };
  }
}

function findBlankLine(buf: Buffer): { headEnd: number; bodyStart: number } | null {
  // A block may begin with the blank line itself only if it has no fields: invalid later.
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    const next = buf[i + 1];
    if (next === 10) return { headEnd: i, bodyStart: i + 2 };
    if (next === 13 && buf[i + 2] === 10) return { headEnd: i, bodyStart: i + 3 };
    if (next === undefined || (next === 13 && buf[i + 2] === undefined)) return null;
  }
  return null;
}

function interpret(block: string): CgiResponse {
  const headers: HeaderList = [];
  let status: number | null = null;
  let reason: string | null = null;
  let location: string | null = null;
  let contentType = false;
  let contentLength: number | null = null;
  let sendfile: string | null = null;
  for (let line of block.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') return { kind: 'invalid', reason: 'empty line inside the header block' };
    const colon = line.indexOf(':');
    if (colon <= 0) return { kind: 'invalid', reason: `malformed header line ${JSON.stringify(line.slice(0, 80))}` };
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name))
      return { kind: 'invalid', reason: `malformed header name ${JSON.stringify(name.slice(0, 80))}` };
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return { kind: 'invalid', reason: `control character in ${name}` };
    switch (name.toLowerCase()) {
      case 'status': {
        // A final status only: a 1xx would leave the client waiting for one
        // (101 would even claim the connection switched protocols).
        const m = /^([2-5][0-9][0-9])(?:\s+(.*))?$/.exec(value);
        if (m === null) return { kind: 'invalid', reason: `bad Status ${JSON.stringify(value)}` };
        status = Number(m[1]);
        reason = m[2] ?? null;
        break;
      }
      case 'location':
        location = value;
        headers.push(['Location', value]);
        break;
      case 'content-type':
        contentType = true;
        headers.push([name, value]);
        break;
      case 'x-sendfile':
        sendfile = value;
        break;
      case 'content-length': {
        // RFC 9110 §8.6: digits only; repeated, it must say the same each time
        // (RFC 9112 §6.3 treats anything else as unrecoverable framing).
        if (!/^[0-9]{1,15}$/.test(value))
          return { kind: 'invalid', reason: `bad Content-Length ${JSON.stringify(value)}` };
        const length = Number(value);
        if (contentLength !== null && contentLength !== length) {
          return { kind: 'invalid', reason: 'two different Content-Length values' };
        }
        contentLength = length;
        break;
      }
      // Framing and hop-by-hop fields are porta's to decide (RFC 9112 §6, RFC 9110 §7.6.1).
      case 'transfer-encoding':
      case 'connection':
      case 'keep-alive':
      case 'upgrade':
      case 'date':
      case 'server':
        break;
      default:
        headers.push([name, value]);
    }
  }
  if (sendfile !== null) return { kind: 'sendfile', path: sendfile, status: status ?? 200, headers };
  if (location !== null) {
    // §6.2.2: a local redirect is a path alone, with no other fields.
    if (location.startsWith('/') && !location.startsWith('//')) {
      if (headers.length === 1 && status === null && contentLength === null) return { kind: 'localRedirect', location };
    } else if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(location)) {
      return { kind: 'invalid', reason: `Location ${JSON.stringify(location)} is neither a path nor an absolute URI` };
    }
    return {
      kind: 'clientRedirect',
      status: status ?? 302,
      reason: status === null ? null : reason,
      headers,
      contentLength,
    };
  }
  const finalStatus = status ?? 200;
  // §6.3.1: a document needs a Content-Type; a bodiless status does not.
  if (!contentType && finalStatus !== 204 && finalStatus !== 304 && status === null) {
    return { kind: 'invalid', reason: 'no Content-Type, Status or Location' };
  }
  return { kind: 'document', status: finalStatus, reason, headers, contentLength };
}
