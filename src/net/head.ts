// What a request head must satisfy before any handler sees it, beyond what
// llhttp already enforces, and whether the connection persists after the
// answer. Each failure names an entry of the errors table. Pure functions:
// no socket, no state.

import { isIPv6 } from 'node:net';
import type { Limits } from '../config';
import type { RequestError } from '../http/errors';
import { SERVER_ALLOW } from '../http/methods';
import type { RequestHead } from '../http/parser';
import type { Request } from '../http/request';
import type { HeaderList } from '../http/response';
import { SERVER_STOPPING } from './states';

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
  // RFC 9112 §2.3, RFC 9110 §2.5: porta speaks HTTP/1.x (1.2 and up are served
  // as 1.1, see Request); llhttp lets any digit.digit through.
  if (head.versionMajor !== 1) {
    return refuse('badVersion', `HTTP/${head.versionMajor}.${head.versionMinor} is not supported`);
  }
  if (head.url.length > limits.maxUrlLength) return refuse('uriTooLong', `request-target of ${head.url.length} bytes`);
  // RFC 9110 §9.3.6: CONNECT asks for a tunnel; porta is not a proxy.
  if (request.method === 'CONNECT')
    return refuse('connectRefused', 'CONNECT is not supported', [['Allow', SERVER_ALLOW]]);
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never two, and a valid one.
  const hosts = request.headerCount('host');
  if (hosts > 1) return refuse('badHost', 'more than one Host header');
  if (hosts === 0) {
    if (request.versionMinor >= 1) return refuse('badHost', 'Host header missing');
  } else if (!isValidAuthority(request.header('host') as string)) {
    return refuse('badHost', 'invalid Host header');
  }
  const target = request.target;
  if (!target.startsWith('/')) {
    const absolute = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/.exec(target);
    if (absolute !== null) {
      // RFC 9112 §3.2.2: absolute-form is accepted; its authority is checked
      // as Host is (RFC 9110 §4.2.1: an http URI with an empty host is invalid;
      // §4.2.4: userinfo is never sent in a target URI).
      const authority = absolute[2] as string;
      if (authority.includes('@')) return refuse('badRequest', 'userinfo in the request-target');
      if (!isValidAuthority(authority) || authority === '' || authority.startsWith(':')) {
        return refuse('badRequest', 'invalid authority in the request-target');
      }
    } else if (!(target === '*' && request.method === 'OPTIONS')) {
      return refuse('badRequest', 'request-target is not in origin-form');
    }
  }
  // RFC 9112 §3.2: no form of request-target has a fragment (a client keeps
  // it, RFC 9110 §7.1); `/a.txt#x` is not a file named "a.txt#x".
  if (target.includes('#')) return refuse('badRequest', 'a fragment (#) in the request-target');

  let hasBody = false;
  const te = request.headerList('transfer-encoding');
  if (te !== undefined) {
    // RFC 9112 §6.1: HTTP/1.0 framing with Transfer-Encoding is faulty.
    if (request.versionMinor === 0) return refuse('badRequest', 'Transfer-Encoding in an HTTP/1.0 request');
    const codings = te
      .toLowerCase()
      .split(',')
      .map((c) => c.trim());
    // RFC 9112 §6.3: chunked not the final coding, the length cannot be known: 400.
    if (codings[codings.length - 1] !== 'chunked') {
      return refuse('badRequest', `Transfer-Encoding "${te}" does not end with chunked`);
    }
    // RFC 9112 §6.1: a coding porta does not understand (gzip, chunked): 501.
    if (codings.length > 1) return refuse('unknownCoding', `Transfer-Encoding "${te}" is not supported`);
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
    if (expect.trim().toLowerCase() !== '100-continue') {
      return refuse('expectationFailed', `Expect "${expect}" cannot be met`);
    }
    expectsContinue = request.versionMinor >= 1 && hasBody;
  }
  return { error: null, extraHeaders: [], hasBody, expectsContinue };
}

// RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const IP_FUTURE = /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/;
const PORT = /^[0-9]*$/;

/**
 * RFC 9112 §3.2: Host = uri-host [ ":" port ], where uri-host is an IP
 * literal in brackets, an IPv4 address or a reg-name (RFC 3986 §3.2.2). So no
 * space, backslash, non-ASCII byte or bare IPv6 address, and digits alone
 * after the colon.
 */
export function isValidAuthority(value: string): boolean {
  // Nearly every request to a server names the same host: that one is known good.
  if (value === lastValidAuthority) return true;
  const valid = checkAuthority(value);
  if (valid) lastValidAuthority = value;
  return valid;
}

let lastValidAuthority = '';

function checkAuthority(value: string): boolean {
  let port: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return false;
    const literal = value.slice(1, close);
    if (!isIPv6(literal) && !IP_FUTURE.test(literal)) return false;
    const rest = value.slice(close + 1);
    if (rest === '') return true;
    if (!rest.startsWith(':')) return false;
    port = rest.slice(1);
  } else {
    const colon = value.indexOf(':');
    const host = colon < 0 ? value : value.slice(0, colon);
    if (!REG_NAME.test(host)) return false;
    port = colon < 0 ? '' : value.slice(colon + 1);
  }
  return PORT.test(port) && port.length <= 5;
}

/** What the answer to one request knows about whether the connection can carry another. */
export interface PersistenceFacts {
  /** llhttp_should_keep_alive(): the version's default and the Connection header (RFC 9112 §9.3). */
  clientKeepAlive: boolean;
  /** Requests dispatched on this connection so far, this one included. */
  requests: number;
  maxRequests: number;
  /** The server is shutting down: finish this answer, then close. */
  serverDraining: boolean;
  /** porta answers as HTTP/1.0 (-p HTTP/1.0): one request a connection, as Python's server. */
  oneShot: boolean;
  /**
   * Answered before asking for a body the client holds back (Expect:
   * 100-continue, RFC 9110 §10.1.1): closing beats waiting for a body that
   * may never come, and the answer says so.
   */
  bodyWithheld: boolean;
  /** The body is delimited by the close (HTTP/1.0 with no length, RFC 9112 §6.3). */
  closeDelimited: boolean;
  /** The handler asked for Connection: close. */
  handlerClose: boolean;
}

/**
 * The one place that decides keep-alive, once per response, when its head is
 * written: why the connection closes after it, or null to keep it.
 */
export function closeReason(f: PersistenceFacts): string | null {
  if (!f.clientKeepAlive) return 'the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)';
  if (f.requests >= f.maxRequests) return 'its --max-requests are answered';
  if (f.serverDraining) return SERVER_STOPPING;
  if (f.oneShot) return '-p HTTP/1.0: one request a connection';
  if (f.bodyWithheld) return 'the client still holds its body back (100 Continue not sent)';
  if (f.closeDelimited) return 'the body ends with the connection (no length, no chunks)';
  if (f.handlerClose) return 'the handler asked to close';
  return null;
}
