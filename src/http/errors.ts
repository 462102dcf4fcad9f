// Errors are data until the edge: everything that can go wrong with a request
// before a handler owns it has a name here, and this one table says what the
// client is told. The connection sends it with Connection: close (RFC 9112 §9.6)
// when no byte of a response has gone out yet, then closes.

import { CHUNK_EXTENSIONS_OVERFLOW, HEADER_OVERFLOW, URL_OVERFLOW } from './parser/types';

export type RequestErrorName =
  | 'badRequest' // malformed message; every llhttp error not named below
  | 'headerTooLarge' // HPE_HEADER_OVERFLOW, RFC 6585 §5
  | 'uriTooLong' // RFC 9110 §15.5.15
  | 'badVersion' // HTTP/0.9, HTTP/2.0 or HTTP/3.0 on this port: RFC 9110 §15.6.6
  | 'unknownCoding' // a transfer coding other than chunked, RFC 9112 §6.1
  | 'unknownMethod' // a well-formed token llhttp does not know, RFC 9110 §9.1
  | 'badHost' // RFC 9112 §3.2: exactly one Host, and a valid one
  | 'connectRefused' // CONNECT: porta is not a proxy
  | 'bodyTooLarge' // declared or received body over limits.maxBodySize
  | 'chunkExtensionsTooLarge' // a chunk line over 16 KiB (CVE-2024-22019)
  | 'headTimeout' // the head did not arrive in time
  | 'bodyTimeout' // the body stalled
  | 'expectationFailed'; // Expect other than 100-continue, RFC 9110 §10.1.1

export interface RequestError {
  name: RequestErrorName;
  /** Human detail for the log and the error page (escaped there). */
  detail: string;
}

export const ERROR_STATUS: Readonly<Record<RequestErrorName, number>> = {
  badRequest: 400,
  headerTooLarge: 431,
  uriTooLong: 414,
  badVersion: 505,
  unknownCoding: 501,
  unknownMethod: 501,
  badHost: 400,
  connectRefused: 405,
  bodyTooLarge: 413,
  chunkExtensionsTooLarge: 413,
  headTimeout: 408,
  bodyTimeout: 408,
  expectationFailed: 417,
};

/** RFC 9110 §5.6.2: a token is one or more tchar. */
const TOKEN_THEN_SPACE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?: |$)/;
/** llhttp matches methods letter by letter: a letter before the stop is part of the method. */
const METHOD_LETTER = /^[A-Z]$/;

/**
 * Map an llhttp error to a name. `following` is the input from where llhttp
 * stopped, `before` the byte before it: one code covers cases RFC 9110
 * answers differently.
 */
export function parseErrorName(code: string, reason: string, following: string, before: string): RequestErrorName {
  switch (code) {
    case HEADER_OVERFLOW:
      // The request-target counts toward the head limit; overflowing inside it is a 414.
      return reason === URL_OVERFLOW ? 'uriTooLong' : 'headerTooLarge';
    case 'HPE_URI_TOO_LONG':
      return 'uriTooLong';
    case CHUNK_EXTENSIONS_OVERFLOW:
      return 'chunkExtensionsTooLarge';
    case 'HPE_PAUSED_H2_UPGRADE':
      return 'badVersion'; // "PRI * HTTP/2.0": an HTTP/2 preface on an HTTP/1.1 port
    case 'HPE_INVALID_VERSION':
      // llhttp runs with lenient *version* (see parser/wasm.ts): every
      // digit.digit passes and is judged by the connection (HTTP/1.9 is served
      // as 1.1, HTTP/2.0 gets 505). What llhttp still refuses ("HTTP/1.x",
      // "HTTP/12.0", no CRLF after it) is a malformed request line.
      return 'badRequest';
    case 'HPE_INVALID_TRANSFER_ENCODING':
      // llhttp stops here when chunked is not the final coding, or TE comes
      // with Content-Length: the body length cannot be known, and RFC 9112
      // §6.3 says 400 and close. ("gzip, chunked" passes llhttp and gets 501
      // from net/head.ts: a coding porta does not understand, §6.1.)
      return 'badRequest';
    case 'HPE_INVALID_METHOD':
      // A method is a token (RFC 9110 §9.1). llhttp stops at the first byte
      // that is not part of a method it knows ("FOO" at the first O, "GETs"
      // at the s, "G@T" at the @): the method is a token it does not know —
      // 501 — when token bytes run from there to the space, or when it stops
      // at the space itself after letters of a method it knows ("GE /",
      // "P /": a shorter token); otherwise (" GET" with leading whitespace,
      // "G@T", no target) the request line is malformed — 400.
      if (TOKEN_THEN_SPACE.test(following)) return 'unknownMethod';
      return following.startsWith(' ') && METHOD_LETTER.test(before) ? 'unknownMethod' : 'badRequest';
    default:
      return 'badRequest';
  }
}
