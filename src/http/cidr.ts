// Address ranges (CIDR) for --trust-proxy and --status-allow: 10.0.0.0/8,
// 2001:db8::/32, or a single address. IPv4-mapped IPv6 addresses
// (::ffff:10.1.2.3) match IPv4 ranges, since that is how a dual-stack
// listener sees IPv4 clients.

import { BlockList, isIP } from 'node:net';

export class AddressRanges {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  /** Throws on a range that is not an address or address/prefix. */
  constructor(ranges: readonly string[]) {
    this.#empty = ranges.length === 0;
    for (const range of ranges) {
      const [address = '', prefix, ...more] = range.split('/');
      const family = isIP(address);
      // "10.0.0.0/8/9" is a typo, not 10.0.0.0/8: a trust list is not guessed at.
      if (family === 0 || more.length > 0) throw new Error(`"${range}" is not an address or a CIDR range`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.#list.addAddress(address, type);
        continue;
      }
      const bits = Number(prefix);
      if (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128))
        throw new Error(`"${range}" has a bad prefix length`);
      this.#list.addSubnet(address, bits, type);
    }
  }

  get empty(): boolean {
    return this.#empty;
  }

  has(address: string): boolean {
    if (this.#empty) return false;
    const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const family = isIP(plain);
    if (family === 0) return false;
    return this.#list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Loopback: 127.0.0.0/8 and ::1. */
export const LOOPBACK_RANGES = new AddressRanges(['127.0.0.0/8', '::1']);
