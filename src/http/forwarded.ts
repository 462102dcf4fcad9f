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
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/** RFC 7239: Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711". Null without one. */
function forwardedFor(request: Request): string[] | null {
  const value = request.headerList('forwarded');
  if (value === undefined) return null;
  const hops: string[] = [];
  for (const element of value.split(',')) {
    const pair = element
      .split(';')
      .map((p) => p.trim())
      .find((p) => p.toLowerCase().startsWith('for='));
    if (pair === undefined) continue;
    let node = pair.slice(4).replace(/^"|"$/g, '');
    if (node.startsWith('[')) node = node.slice(1, node.indexOf(']'));
    else if (node.includes('.') && node.includes(':')) node = node.slice(0, node.indexOf(':'));
    hops.push(node);
  }
  return hops;
}

function xForwardedFor(request: Request): string[] | null {
  const value = request.headerList('x-forwarded-for');
  if (value === undefined) return null;
  return value.split(',').map((hop) => hop.trim());
}
