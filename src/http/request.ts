// The request as handlers see it: the parsed head plus what the connection
// knows (peer, local address). Header lookups are linear scans over the raw
// list: requests carry a dozen fields, and a map would cost more to build.

import type { RequestHead } from './parser';

export interface Peer {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** The connection is TLS (HTTPS). */
  secure: boolean;
}

export class Request {
  readonly method: string;
  /** The request-target exactly as received. */
  readonly target: string;
  /** The path part of the target, still percent-encoded. */
  readonly path: string;
  /** The query without its '?', or null when the target has none. */
  readonly query: string | null;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly rawHeaders: string[];
  readonly peer: Peer;
  /**
   * Who the client is: the peer's address, or what a trusted proxy said
   * (X-Forwarded-For, Forwarded, PROXY protocol; see http/forwarded.ts).
   * REMOTE_ADDR and the access log use this.
   */
  client: string;
  readonly startedAt: number;

  constructor(head: RequestHead, peer: Peer) {
    this.method = head.method;
    this.target = head.url;
    const q = head.url.indexOf('?');
    const pathPart = q < 0 ? head.url : head.url.slice(0, q);
    this.path = originFormPath(pathPart);
    this.query = q < 0 ? null : head.url.slice(q + 1);
    this.versionMajor = head.versionMajor;
    // RFC 9110 §2.5: HTTP/1.2 and up are processed as HTTP/1.1, the highest
    // minor version porta implements (the connection refuses other majors).
    this.versionMinor = head.versionMajor === 1 && head.versionMinor > 1 ? 1 : head.versionMinor;
    this.rawHeaders = head.rawHeaders;
    this.peer = peer;
    this.client = peer.remoteAddress;
    this.startedAt = performance.now();
  }

  /**
   * Whom the request is for: an absolute-form target's authority (RFC 9112
   * §3.2.2: the server then ignores Host), else the Host field.
   */
  get authority(): string | undefined {
    if (this.target.startsWith('/')) return this.header('host');
    const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(this.target);
    return absolute === null ? this.header('host') : absolute[1];
  }

  get protocol(): string {
    return `HTTP/${this.versionMajor}.${this.versionMinor}`;
  }

  /** The first value of a field (name in lower case), or undefined. */
  header(name: string): string | undefined {
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i] as string;
      if (field.length === name.length && field.toLowerCase() === name) return raw[i + 1];
    }
    return undefined;
  }

  /** Every value of a field joined with ", " (RFC 9110 §5.3), or undefined. */
  headerList(name: string): string | undefined {
    let joined: string | undefined;
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i] as string;
      if (field.length === name.length && field.toLowerCase() === name) {
        const value = raw[i + 1] as string;
        joined = joined === undefined ? value : `${joined}, ${value}`;
      }
    }
    return joined;
  }

  headerCount(name: string): number {
    let n = 0;
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i] as string;
      if (field.length === name.length && field.toLowerCase() === name) n++;
    }
    return n;
  }
}

/**
 * RFC 9112 §3.2.2: a server must accept absolute-form; its path is what we
 * route on. "*" (OPTIONS) and authority-form pass through unchanged.
 */
function originFormPath(target: string): string {
  if (target.startsWith('/')) return target;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(target);
  if (scheme === null) return target;
  const rest = target.slice(scheme[0].length);
  return rest === '' ? '/' : rest;
}
