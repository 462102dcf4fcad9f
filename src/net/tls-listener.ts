// The HTTPS listener. Until its handshake completes a connection is Node's
// (handshakes.ts bounds it); once secure it is porta's, as a plain one is.
// With --proxy-protocol the PROXY header comes first on the wire, before the
// TLS bytes (HAProxy's send-proxy, curl --haproxy-protocol): it is read off
// the TCP socket here, and the socket is then handed to node:tls, as if
// just accepted, with what followed the header put back in front.

import { createServer as createPlainServer, type Server, type Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { AddressRanges } from '../http/cidr';
import type { Handshakes } from './handshakes';
import { readProxyHeader } from './proxy-protocol';
import { plainAddress } from './report';

/** The client a PROXY header named (null: LOCAL or UNKNOWN, the peer stays the client). */
export type ProxiedClient = { address: string; port: number } | null;

export interface TlsListener {
  tls: SecureContextOptions;
  handshakes: Handshakes;
  /** Connections and handshakes have reached --max-connections: refuse this one. */
  full(): boolean;
  /** A connection refused for the count (counted on the status page). */
  refuse(raw: Socket): void;
  /** A secure connection for porta; `client`: what its PROXY header said, undefined without one. */
  accept(socket: Socket, client: ProxiedClient | undefined): void;
  /** --proxy-protocol: who may send the header, and where a refusal is said (the handshake's deadline covers it). */
  proxy: { trusted: AddressRanges; log(message: string): void } | null;
}

export function createTlsListener(o: TlsListener): Server {
  const tls = require('node:tls') as typeof import('node:tls');
  const named = new WeakMap<Socket, ProxiedClient>();
  // allowHalfOpen: a client's FIN after a complete request does not end our
  // side; the connection answers what it has, then closes (RFC 9112 §9.6).
  const server = tls.createServer({ ...o.tls, noDelay: true, allowHalfOpen: true }, (socket: Socket) => {
    o.handshakes.settled(socket);
    const raw = (socket as { _parent?: unknown })._parent;
    o.accept(socket, o.proxy === null ? undefined : (named.get(raw as Socket) ?? null));
  });
  server.on('connection', (raw: Socket) => {
    if (o.handshakes.has(raw)) return; // begun when its PROXY header was awaited
    if (o.full()) return o.refuse(raw);
    o.handshakes.begin(raw);
  });
  // A plaintext request or a failed handshake: that socket is closed, nothing else.
  server.on('tlsClientError', (_err: Error, socket: Socket) => o.handshakes.settled(socket));
  const proxy = o.proxy;
  if (proxy === null) return server;

  return createPlainServer({ noDelay: true, allowHalfOpen: true }, (raw: Socket) => {
    if (o.full()) return o.refuse(raw);
    const peer = `${plainAddress(raw.remoteAddress)}:${raw.remotePort ?? 0}`;
    const refuse = (why: string): void => {
      proxy.log(`${peer}: connection refused: ${why}`);
      raw.destroy();
    };
    if (!proxy.trusted.has(plainAddress(raw.remoteAddress))) {
      return refuse(`PROXY header from ${plainAddress(raw.remoteAddress)}, not a trusted proxy`);
    }
    o.handshakes.begin(raw); // the header and the handshake share one deadline
    raw.on('error', () => undefined); // a reset while the header is awaited: 'close' follows
    let input: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      input = input.length === 0 ? chunk : Buffer.concat([input, chunk]);
      const header = readProxyHeader(input);
      if (header.kind === 'more') return; // bounded: readProxyHeader refuses past its maximum
      raw.removeListener('data', onData);
      raw.pause();
      if (header.kind === 'bad') return refuse(header.reason);
      named.set(raw, header.client);
      const rest = input.subarray(header.length);
      if (rest.length > 0) raw.unshift(rest);
      server.emit('connection', raw);
    };
    raw.on('data', onData);
  });
}
