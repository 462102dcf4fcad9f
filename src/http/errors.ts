// Errors are data until the edge: everything that can go wrong with a request
// before a handler owns it has a name here, and this one table says what the
// client is told. The connection sends it with Connection: close (RFC 9112 §9.6)
// when no byte of a response has gone out yet, then closes.

import { URL_OVERFLOW } from './parser/types';

export type RequestErrorName =
  | 'badRequest' // malformed message; every llhttp error not named below
  | 'headerTooLarge' // HPE_HEADER_OVERFLOW, RFC 6585 §5
  | 'uriTooLong' // RFC 9110 §15.5.15
  | 'badVersion' // HTTP/0.9, HTTP/2.0 on this port, HTTP/1.9 …
  | 'unknownCoding' // a transfer coding other than chunked, RFC 9112 §6.1
  | 'unknownMethod' // well-formed but unknown to llhttp, RFC 9110 §9.1
  | 'missingHost' // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host
  | 'connectRefused' // CONNECT: porta is not a proxy
  | 'bodyTooLarge' // declared or received body over limits.maxBodySize
  | 'headTimeout' // the head did not arrive in time
  | 'bodyTimeout' // the body stalled
  | 'expectationFailed'; // Expect other than 100-continue, RFC 9110 §10.1.1

export interface RequestError {
  name: RequestErrorName;
  /** Human detail for the log (never echoed into HTML unescaped). */
  detail: string;
}

export const ERROR_STATUS: Record<RequestErrorName, number> = {
  badRequest: 400,
  headerTooLarge: 431,
  uriTooLong: 414,
  badVersion: 505,
  unknownCoding: 501,
  unknownMethod: 501,
  missingHost: 400,
  connectRefused: 405,
  bodyTooLarge: 413,
  headTimeout: 408,
  bodyTimeout: 408,
  expectationFailed: 417,
};

const TOKEN_THEN_SPACE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]*(?: |$)/;

/**
 * Map an llhttp error code to a name. `following` is the input from where
 * llhttp stopped: one code covers cases RFC 9110 answers differently.
 */
export function parseErrorName(code: string, reason: string, following = ''): RequestErrorName {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      // The request-target counts toward the head limit; overflowing inside it is a 414.
      return reason === URL_OVERFLOW ? 'uriTooLong' : 'headerTooLarge';
    case 'HPE_URI_TOO_LONG':
      return 'uriTooLong';
    case 'HPE_PAUSED_H2_UPGRADE':
      return 'badVersion'; // "PRI * HTTP/2.0": an HTTP/2 preface on an HTTP/1.1 port
    case 'HPE_INVALID_VERSION':
      // Only a well-formed version we do not speak is a 505 (RFC 9110 §15.6.6);
      // "Expected CRLF after version" (LF-only lines) or "Expected dot" is
      // a malformed request line.
      return /invalid (http|major|minor) version|HTTP\/0\.9/i.test(reason) ? 'badVersion' : 'badRequest';
    case 'HPE_INVALID_TRANSFER_ENCODING':
      // llhttp stops here when chunked is not the final coding, or TE comes
      // with Content-Length: the body length cannot be known, and RFC 9112
      // §6.3 says 400 and close. ("gzip, chunked" passes llhttp and gets 501
      // from net/head.ts: a coding porta does not understand, §6.1.)
      return 'badRequest';
    case 'HPE_INVALID_METHOD':
      // A method is a token (RFC 9110 §9.1): a well-formed one llhttp does not
      // know is 501; anything else ("G@T", "Expected space after method") is
      // a malformed request line.
      return /invalid method encountered/i.test(reason) && TOKEN_THEN_SPACE.test(following)
        ? 'unknownMethod'
        : 'badRequest';
    default:
      return 'badRequest';
  }
}
