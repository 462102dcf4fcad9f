// What a request head must satisfy before any handler sees it, beyond what
// llhttp already enforces. Each failure names an entry of the errors table.

import type { Limits } from '../config';
import type { RequestError } from '../http/errors';
import type { RequestHead } from '../http/parser';
import type { Request } from '../http/request';
import type { HeaderList } from '../http/response';

export interface HeadVerdict {
  error: RequestError | null;
  extraHeaders: HeaderList;
  /** A body follows the head (Content-Length > 0 or chunked). */
  hasBody: boolean;
  expectsContinue: boolean;
}

function refuse(name: RequestError['name'], detail: string, extraHeaders: HeaderList = []): HeadVerdict {
  return { error: { name, detail }, extraHeaders, hasBody: false, expectsContinue: false };
}

export function validateHead(request: Request, head: RequestHead, limits: Limits): HeadVerdict {
  // RFC 9112 §2.3: porta speaks HTTP/1.x; llhttp lets HTTP/0.9 through as a version.
  if (head.versionMajor !== 1)
    return refuse('badVersion', `HTTP/${head.versionMajor}.${head.versionMinor} is not supported`);
  if (head.url.length > limits.maxUrlLength) return refuse('uriTooLong', `request-target of ${head.url.length} bytes`);
  // RFC 9110 §9.3.6: CONNECT asks for a tunnel; porta is not a proxy.
  if (request.method === 'CONNECT')
    return refuse('connectRefused', 'CONNECT is not supported', [
      ['Allow', 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS'],
    ]);
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1; never two.
  const hosts = request.headerCount('host');
  if (hosts > 1 || (hosts === 0 && head.versionMinor >= 1))
    return refuse('missingHost', hosts === 0 ? 'Host header missing' : 'more than one Host header');
  const target = request.path;
  if (!target.startsWith('/') && !(target === '*' && request.method === 'OPTIONS')) {
    return refuse('badRequest', 'request-target is not in origin-form');
  }

  let hasBody = false;
  const te = request.headerList('transfer-encoding');
  if (te !== undefined) {
    // RFC 9112 §6.1: HTTP/1.0 framing with Transfer-Encoding is faulty.
    if (head.versionMinor === 0) return refuse('badRequest', 'Transfer-Encoding in an HTTP/1.0 request');
    // llhttp has made sure chunked is last; any other coding we cannot undo.
    if (te.trim().toLowerCase() !== 'chunked')
      return refuse('unknownCoding', `Transfer-Encoding "${te}" is not supported`);
    hasBody = true;
  } else {
    const cl = request.header('content-length');
    if (cl !== undefined) {
      const length = Number(cl);
      if (length > limits.maxBodySize) return refuse('bodyTooLarge', `Content-Length ${cl} over the limit`);
      hasBody = length > 0;
    }
  }

  let expectsContinue = false;
  const expect = request.headerList('expect');
  if (expect !== undefined) {
    // RFC 9110 §10.1.1: 100-continue is the only expectation defined.
    if (expect.trim().toLowerCase() !== '100-continue')
      return refuse('expectationFailed', `Expect "${expect}" cannot be met`);
    expectsContinue = head.versionMinor >= 1 && hasBody;
  }
  return { error: null, extraHeaders: [], hasBody, expectsContinue };
}

/** RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". */
export function wantsKeepAlive(request: Request): boolean {
  const connection = request.headerList('connection');
  if (connection !== undefined && /(?:^|,)\s*close\s*(?:,|$)/i.test(connection)) return false;
  if (request.versionMinor === 0) return connection !== undefined && /(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(connection);
  return true;
}
