// The PROXY protocol (HAProxy, v1 text and v2 binary): a load balancer that
// is not HTTP-aware says, in front of the connection's first bytes, who the
// client really is. porta reads it only when --proxy-protocol is on and only
// from a --trust-proxy peer; anything else, or a malformed header, closes the
// connection (the bytes after it were never meant for HTTP).
//   v1: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" (at most 107 bytes)
//   v2: a 12-byte signature, version/command, family, length, addresses, TLVs

import { isIPv4, isIPv6, SocketAddress } from 'node:net';

export type ProxyHeader =
  | { kind: 'more' } // not all of it yet
  | { kind: 'bad'; reason: string }
  /** `client` null: a LOCAL header (the balancer's own health check) or UNKNOWN: keep the peer. */
  | { kind: 'done'; client: { address: string; port: number } | null; length: number };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
/** v2 headers carry TLVs too; more than this is not a header porta will wait for. */
const V2_MAX = 16 + 4096;

/** Read a PROXY header at the start of `data` (everything received so far). */
export function readProxyHeader(data: Buffer): ProxyHeader {
  if (startsWith(data, V2_SIGNATURE)) return readV2(data);
  if (startsWith(data, V1_PREFIX)) return readV1(data);
  // A prefix of either signature: wait; anything else is not a PROXY header.
  const n = Math.min(data.length, 12);
  if (V2_SIGNATURE.subarray(0, n).equals(data.subarray(0, n))) return { kind: 'more' };
  const m = Math.min(data.length, V1_PREFIX.length);
  if (V1_PREFIX.subarray(0, m).equals(data.subarray(0, m))) return { kind: 'more' };
  return { kind: 'bad', reason: 'no PROXY protocol header' };
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);
}

function readV1(data: Buffer): ProxyHeader {
  const end = data.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return data.length >= V1_MAX ? { kind: 'bad', reason: 'PROXY v1 line too long' } : { kind: 'more' };
  if (end + 2 > V1_MAX) return { kind: 'bad', reason: 'PROXY v1 line too long' };
  const words = data.latin1Slice(0, end).split(' ');
  const length = end + 2;
  if (words[1] === 'UNKNOWN') return { kind: 'done', client: null, length };
  if (words.length !== 6) return { kind: 'bad', reason: 'PROXY v1 line malformed' };
  const [, family = '', source = '', destination = '', sourcePort = '', destinationPort = ''] = words;
  // The whole line is checked, the destination too: a line that is wrong
  // anywhere (a lone LF folded into its last word, say) is not believed at all.
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isPlainIPv6 : null;
  if (valid === null || !valid(source) || !valid(destination) || !isPort(sourcePort) || !isPort(destinationPort))
    return { kind: 'bad', reason: 'PROXY v1 addresses malformed' };
  const address = family === 'TCP6' ? ipv6Text(source) : source;
  return { kind: 'done', client: { address, port: Number(sourcePort) }, length };
}

/** An IPv6 address another host can mean: no zone index ("fe80::1%eth0" is only this host's). */
function isPlainIPv6(text: string): boolean {
  return isIPv6(text) && !text.includes('%');
}

/** The spec's port: decimal 0-65535, and no leading zeros ("to avoid any possible confusion with octal"). */
function isPort(text: string): boolean {
  return /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535;
}

/**
 * A v1 IPv6 address in its usual text form (lower case, shortened); an IPv4
 * client in IPv6 form (::ffff:192.0.2.1) as plain IPv4, the way a dual-stack
 * socket's peer is named (net/report.ts plainAddress), so REMOTE_ADDR and the
 * log say the same for a client however it arrived.
 */
function ipv6Text(text: string): string {
  const canonical = new SocketAddress({ address: text, family: 'ipv6' }).address;
  return canonical.startsWith('::ffff:') && canonical.includes('.') ? canonical.slice(7) : canonical;
}

function readV2(data: Buffer): ProxyHeader {
  if (data.length < 16) return { kind: 'more' };
  const versionCommand = data[12] as number;
  const family = data[13] as number;
  const size = data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return { kind: 'bad', reason: 'PROXY v2 version' };
  if (16 + size > V2_MAX) return { kind: 'bad', reason: 'PROXY v2 header too long' };
  if (data.length < 16 + size) return { kind: 'more' };
  const length = 16 + size;
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { kind: 'done', client: null, length }; // LOCAL: the balancer itself
  if (command !== 0x1) return { kind: 'bad', reason: 'PROXY v2 command' };
  const body = data.subarray(16, length);
  switch (family) {
    case 0x11: // TCP over IPv4
      if (size < 12) return { kind: 'bad', reason: 'PROXY v2 IPv4 addresses short' };
      return {
        kind: 'done',
        client: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) },
        length,
      };
    case 0x21: {
      // TCP over IPv6
      if (size < 36) return { kind: 'bad', reason: 'PROXY v2 IPv6 addresses short' };
      const port = body.readUInt16BE(32);
      // An IPv4 client in IPv6 form (::ffff:0:0/96, what a balancer bound to [::]
      // sends): named as IPv4, as a dual-stack socket's peer is (see ipv6Text).
      if (body.readUInt32BE(0) === 0 && body.readUInt32BE(4) === 0 && body.readUInt32BE(8) === 0xffff)
        return { kind: 'done', client: { address: [...body.subarray(12, 16)].join('.'), port }, length };
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
      return { kind: 'done', client: { address: compressIPv6(groups), port }, length };
    }
    case 0x00: // UNSPEC
      return { kind: 'done', client: null, length };
    default:
      return { kind: 'bad', reason: `PROXY v2 family ${family}` };
  }
}

/** The usual text form: the longest run of zero groups as "::". */
function compressIPv6(groups: string[]): string {
  let best = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}
