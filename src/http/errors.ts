// Errors are data until the edge: everything that can go wrong with a request
// before a handler owns it has a name here, and this one table says what the
// client is told. The connection sends it with Connection: close (RFC 9112 §9.6)
// when no byte of a response has gone out yet, then closes.

export type RequestErrorName =
  | 'badRequest'          // malformed message: any llhttp error not named below
  | 'headerTooLarge'      // HPE_HEADER_OVERFLOW, RFC 6585 §5
  | 'uriTooLong'          // RFC 9110 §15.5.15
  | 'badVersion'          // HTTP/0.9, HTTP/2.0 on this port, HTTP/1.9 …
  | 'unknownCoding'       // a transfer coding other than chunked, RFC 9112 §6.1
  | 'unknownMethod'       // well-formed but unknown to llhttp, RFC 9110 §9.1
  | 'missingHost'         // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host
  | 'connectRefused'      // CONNECT: porta is not a proxy
  | 'bodyTooLarge'        // declared or received body over limits.maxBodySize
  | 'headTimeout'         // the head did not arrive in time
  | 'bodyTimeout'         // the body stalled
  | 'expectationFailed';  // Expect other than 100-continue, RFC 9110 §10.1.1

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

/** Map an llhttp error code (and its reason, where one code covers two cases) to a name. */
export function parseErrorName(code: string, reason: string): RequestErrorName {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'headerTooLarge';
    case 'HPE_URI_TOO_LONG':
      return 'uriTooLong';
    case 'HPE_INVALID_VERSION':
      return 'badVersion';
    case 'HPE_INVALID_TRANSFER_ENCODING':
      // llhttp uses this code for TE beside Content-Length too: that one is a
      // smuggling attempt, not a coding we lack (RFC 9112 §6.1).
      return /content-length/i.test(reason) ? 'badRequest' : 'unknownCoding';
    case 'HPE_INVALID_METHOD':
      // "Invalid method encountered" is a token llhttp does not know; other
      // reasons ("Expected space after method") are malformed request lines.
      return /invalid method encountered/i.test(reason) ? 'unknownMethod' : 'badRequest';
    default:
      return 'badRequest';
  }
}
