// Who the client is behind trusted proxies (--trust-proxy). Only when the
// peer itself is trusted do X-Forwarded-For or Forwarded (RFC 7239) count;
// then the chain is read from the right, past every trusted hop, and the first
// address that is not one of ours is the client (nginx's real_ip_recursive).
// Never trusted by default: without --trust-proxy they are ordinary headers.

import { isIP } from 'node:net';
import type { AddressRanges } from './cidr';
import type { Request } from './request';

export function clientAddress(request: Request, trusted: AddressRanges): string {
  const peer = request.client;
  if (trusted.empty || !trusted.has(peer)) return peer;
  const chain = forwardedFor(request) ?? xForwardedFor(request);
  if (chain === null) return peer;
  let client = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i] as string;
    if (isIP(hop) === 0) break; // obfuscated or garbage: the chain cannot be followed past it
    client = plainAddress(hop);
    if (!trusted.has(hop)) break;
  }
  return client;
}

/**
 * An IPv4 client in IPv6 form (::ffff:192.0.2.1) as plain IPv4, the way a
 * dual-stack socket's peer is named (net/report.ts): REMOTE_ADDR and the log
 * say the same for one client whichever way it was named.
 */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * RFC 7239: Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711". Null without one.
 * Every element is a hop, in order: one without for= (a proxy that did not say
 * whom it saw) or with a node that cannot be read stands as "" — not an
 * address, so the walk stops there rather than take the element left of it
 * (the client's own word) for the proxy's.
 */
function forwardedFor(request: Request): string[] | null {
  const value = request.headerList('forwarded');
  if (value === undefined) return null;
  const hops: string[] = [];
  for (const element of value.split(',')) {
    const pair = element
      .split(';')
      .map((p) => p.trim())
      .find((p) => p.toLowerCase().startsWith('for='));
    hops.push(pair === undefined ? '' : nodeName(pair.slice(4)));
  }
  return hops;
}

/** A port after a node: digits, or an obfuscated one ("_" and letters, RFC 7239 §6.3). */
const NODE_PORT = /^:(?:\d{1,5}|_[A-Za-z0-9._-]+)$/;

/** The address part of a node (`192.0.2.43:47011`, `"[2001:db8::1]:4711"`, `unknown`), or "" when it is malformed. */
function nodeName(value: string): string {
  let node = value;
  if (node.startsWith('"') || node.endsWith('"')) {
    if (node.length < 2 || !node.startsWith('"') || !node.endsWith('"')) return ''; // a quote never closed
    node = node.slice(1, -1);
  }
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    // "[2001:db8::1" cut short would otherwise read as 2001:db8:: — another address.
    if (close < 0) return '';
    const rest = node.slice(close + 1);
    return rest === '' || NODE_PORT.test(rest) ? node.slice(1, close) : '';
  }
  const colon = node.indexOf(':');
  if (colon >= 0 && node.includes('.')) {
    // IPv4 with a port (an unbracketed IPv6 has colons but no dot, and is taken as it is).
    return NODE_PORT.test(node.slice(colon)) ? node.slice(0, colon) : '';
  }
  return node;
}

function xForwardedFor(request: Request): string[] | null {
  const value = request.headerList('x-forwarded-for');
  if (value === undefined) return null;
  return value.split(',').map((hop) => hop.trim());
}
