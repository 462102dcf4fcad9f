// The PROXY protocol (--proxy-protocol), v1 text and v2 binary. First
// readProxyHeader on exact bytes: every form the spec names, every way a
// header can be wrong, and every prefix of a good one ('more' until it is
// whole). Then a real porta (node build/src/cli.js, --trust-proxy 127.0.0.1):
// the header's address reaches a CGI program as REMOTE_ADDR/REMOTE_PORT,
// however the header is cut into TCP writes; the bytes after it are HTTP; and
// a connection without one, with garbage, or from a peer that is not trusted
// (127.0.0.2: Linux routes all of 127/8 to lo) is closed with nothing sent.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { readProxyHeader, type ProxyHeader } from '../../src/net/proxy-protocol';
import { parseResponses, selfSignedCertificate, sleep, tempDir } from '../helpers/porta';

const CLI = join(__dirname, '..', '..', 'src', 'cli.js');

// ---- building headers ------------------------------------------------------------

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: signature, version/command, family, length, then `body` (addresses and TLVs). */
function v2(versionCommand: number, family: number, body: Buffer | number[] = []): Buffer {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length);
  return Buffer.concat([SIGNATURE, Buffer.from([versionCommand, family]), length, payload]);
}

/** The address block of a TCP4 header. */
function ipv4Body(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const body = Buffer.alloc(12);
  Buffer.from(source).copy(body, 0);
  Buffer.from(destination).copy(body, 4);
  body.writeUInt16BE(sourcePort, 8);
  body.writeUInt16BE(destinationPort, 10);
  return body;
}

/** The address block of a TCP6 header, from eight 16-bit groups each. */
function ipv6Body(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const body = Buffer.alloc(36);
  for (let i = 0; i < 8; i++) {
    body.writeUInt16BE(source[i] ?? 0, i * 2);
    body.writeUInt16BE(destination[i] ?? 0, 16 + i * 2);
  }
  body.writeUInt16BE(sourcePort, 32);
  body.writeUInt16BE(destinationPort, 34);
  return body;
}

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

function done(address: string, port: number, length: number): ProxyHeader {
  return { kind: 'done', client: { address, port }, length };
}

function isBad(t: Test, header: ProxyHeader, what: string): void {
  t.equal(header.kind, 'bad', `${what}: ${JSON.stringify(header)}`);
}

// ---- v1 --------------------------------------------------------------------------

t.test('v1: TCP4, TCP6 and UNKNOWN', async (t) => {
  const tcp4 = 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n';
  t.strictSame(readProxyHeader(latin1(tcp4)), done('192.0.2.1', 56324, tcp4.length));
  const tcp6 = 'PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n';
  t.strictSame(readProxyHeader(latin1(tcp6)), done('2001:db8::1', 4711, tcp6.length));
  // The bounds of the port range.
  const ports = 'PROXY TCP4 192.0.2.1 198.51.100.2 0 65535\r\n';
  t.strictSame(readProxyHeader(latin1(ports)), done('192.0.2.1', 0, ports.length));
  const high = 'PROXY TCP4 192.0.2.1 198.51.100.2 65535 0\r\n';
  t.strictSame(readProxyHeader(latin1(high)), done('192.0.2.1', 65535, high.length));
  // IPv6 in its usual text form, whatever the case or shortening on the line.
  const long6 = 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::2 4711 443\r\n';
  t.strictSame(readProxyHeader(latin1(long6)), done('2001:db8::1', 4711, long6.length));
  // UNKNOWN: the balancer's own connection; the peer stays, whatever follows the word.
  t.strictSame(readProxyHeader(latin1('PROXY UNKNOWN\r\n')), { kind: 'done', client: null, length: 15 });
  const unknown = 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n';
  t.strictSame(readProxyHeader(latin1(unknown)), { kind: 'done', client: null, length: unknown.length });
});

t.test('v1: the bytes after the line are not part of the header', async (t) => {
  const line = 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n';
  const header = readProxyHeader(latin1(`${line}GET / HTTP/1.1\r\nHost: x\r\n\r\n`));
  t.strictSame(header, done('192.0.2.1', 56324, line.length));
});

t.test('v1: 107 bytes at most, CRLF included', async (t) => {
  // The spec's worst case is exactly 107 bytes: UNKNOWN with two full IPv6 addresses.
  const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const longest = `PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`;
  t.equal(longest.length, 107);
  t.strictSame(readProxyHeader(latin1(longest)), { kind: 'done', client: null, length: 107 });
  const tcp6 = `PROXY TCP6 ${full} ${full} 65535 65535\r\n`;
  t.strictSame(readProxyHeader(latin1(tcp6)), done(full, 65535, tcp6.length));
  // One byte more is a line too long, whether its CRLF has come or not.
  const over = `PROXY UNKNOWN ${full} ${full} 65535 655350\r\n`;
  t.equal(over.length, 108);
  isBad(t, readProxyHeader(latin1(over)), '108 bytes with CRLF');
  isBad(t, readProxyHeader(latin1(over.slice(0, 107))), '107 bytes, no CRLF yet');
  isBad(t, readProxyHeader(latin1(`PROXY UNKNOWN ${'x'.repeat(200)}`)), '214 bytes, no CRLF');
  // 106 bytes without CRLF: the line may still end at 107.
  t.strictSame(readProxyHeader(latin1(longest.slice(0, 106))), { kind: 'more' });
  // A CRLF that only comes far past the limit (the HTTP request's) does not rescue it.
  isBad(t, readProxyHeader(latin1(`PROXY TCP4 ${'1'.repeat(120)}\r\n`)), 'CRLF at 131');
});

t.test('v1: malformed lines are refused', async (t) => {
  const cases: Array<[string, string]> = [
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n', 'a port missing'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 9\r\n', 'a word too many'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n', 'a trailing space'],
    ['PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n', 'two spaces'],
    ['PROXY\tTCP4 192.0.2.1 198.51.100.2 56324 443\r\n', 'a tab for the space'],
    ['PROXY TCP4\t192.0.2.1 198.51.100.2 56324 443\r\n', 'a tab between words'],
    ['PROXY TCP5 192.0.2.1 198.51.100.2 56324 443\r\n', 'family TCP5'],
    ['PROXY tcp4 192.0.2.1 198.51.100.2 56324 443\r\n', 'family in lower case'],
    ['PROXY UDP4 192.0.2.1 198.51.100.2 56324 443\r\n', 'family UDP4'],
    ['PROXY \r\n', 'no family'],
    ['PROXY TCP4 2001:db8::1 198.51.100.2 56324 443\r\n', 'TCP4 with an IPv6 source'],
    ['PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n', 'TCP6 with an IPv4 source'],
    ['PROXY TCP4 256.0.2.1 198.51.100.2 56324 443\r\n', 'octet 256'],
    ['PROXY TCP4 192.0.2 198.51.100.2 56324 443\r\n', 'three octets'],
    ['PROXY TCP4 192.0.02.1 198.51.100.2 56324 443\r\n', 'an octet with a leading zero'],
    ['PROXY TCP4 example.com 198.51.100.2 56324 443\r\n', 'a name for the source'],
    ['PROXY TCP6 2001:db8::1::2 2001:db8::2 4711 443\r\n', 'two "::"'],
    ['PROXY TCP6 2001:db8:0:0:0:0:0:0:1 2001:db8::2 4711 443\r\n', 'nine groups'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n', 'source port 65536'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n', 'source port -1'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 +80 443\r\n', 'source port +80'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 0x50 443\r\n', 'source port in hex'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 1e3 443\r\n', 'source port 1e3'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 123456 443\r\n', 'source port of six digits'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2  443\r\n', 'source port empty'],
    // The spec: "Heading zeroes are not permitted in front of numbers".
    ['PROXY TCP4 192.0.2.1 198.51.100.2 08080 443\r\n', 'source port with a leading zero'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 0443\r\n', 'destination port with a leading zero'],
    // The destination is as much a part of the line as the source, in the same family.
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 banana\r\n', 'destination port not a number'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 70000\r\n', 'destination port 70000'],
    ['PROXY TCP4 192.0.2.1 garbage 56324 443\r\n', 'destination address garbage'],
    ['PROXY TCP4 192.0.2.1 2001:db8::2 56324 443\r\n', 'destination of the other family'],
    ['PROXY TCP6 2001:db8::1 198.51.100.2 4711 443\r\n', 'TCP6 destination of the other family'],
    // A zone index is not an address another host can mean.
    ['PROXY TCP6 fe80::1%eth0 2001:db8::2 4711 443\r\n', 'a zone index'],
    // "The receiver must not tolerate a single CR or LF character to end the line."
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\nGET / HTTP/1.1\r\n', 'LF alone ends the line'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\rGET / HTTP/1.1\r\n', 'CR alone ends the line'],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 56324 4\n3\r\n', 'LF inside the last word'],
  ];
  for (const [line, what] of cases) isBad(t, readProxyHeader(latin1(line)), what);
});

t.test('v1: every prefix of a line is "more", then it is whole', async (t) => {
  for (const line of [
    'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n',
    'PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n',
    'PROXY UNKNOWN\r\n',
  ]) {
    const bytes = latin1(`${line}GET`);
    for (let n = 0; n < line.length; n++) {
      const header = readProxyHeader(bytes.subarray(0, n));
      if (header.kind !== 'more') t.fail(`${JSON.stringify(line)} cut at ${n}: ${JSON.stringify(header)}`);
    }
    for (let n = line.length; n <= bytes.length; n++) {
      const header = readProxyHeader(bytes.subarray(0, n));
      t.equal(header.kind === 'done' ? header.length : -1, line.length, `${JSON.stringify(line)} with ${n} bytes`);
    }
  }
});

t.test('not a PROXY header at all', async (t) => {
  isBad(t, readProxyHeader(latin1('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 'an HTTP request');
  isBad(t, readProxyHeader(latin1('G')), 'one byte of HTTP');
  isBad(t, readProxyHeader(latin1('PROXX')), 'PROXX');
  isBad(t, readProxyHeader(latin1('proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n')), 'lower case');
  isBad(t, readProxyHeader(latin1('\r\n\r\n\x00\r\nQUIX')), 'a v2 signature wrong in its 12th byte');
  isBad(t, readProxyHeader(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5])), 'a TLS ClientHello');
  // Nothing yet, or a prefix of either signature: wait.
  t.strictSame(readProxyHeader(Buffer.alloc(0)), { kind: 'more' });
  t.strictSame(readProxyHeader(latin1('PRO')), { kind: 'more' });
  t.strictSame(readProxyHeader(latin1('\r\n\r\n')), { kind: 'more' });
});

// ---- v2 --------------------------------------------------------------------------

const PROXY = 0x21; // version 2, command PROXY
const LOCAL = 0x20; // version 2, command LOCAL
const TCP4 = 0x11;
const TCP6 = 0x21;

t.test('v2: TCP over IPv4 and IPv6', async (t) => {
  const four = v2(PROXY, TCP4, ipv4Body([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443));
  t.equal(four.length, 28);
  t.strictSame(readProxyHeader(four), done('192.0.2.1', 56324, 28));
  const six = v2(
    PROXY,
    TCP6,
    ipv6Body([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 2], 4711, 443),
  );
  t.equal(six.length, 52);
  t.strictSame(readProxyHeader(six), done('2001:db8::1', 4711, 52));
  // The HTTP after it is not the header's.
  t.strictSame(readProxyHeader(Buffer.concat([four, latin1('GET / HTTP/1.1\r\n')])), done('192.0.2.1', 56324, 28));
});

t.test('v2: IPv6 addresses in their usual text form (RFC 5952)', async (t) => {
  const cases: Array<[number[], string]> = [
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], '2001:db8::'],
    [[0x2001, 0x0db8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'], // equal runs: the first is shortened
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 0], '2001:db8:0:0:1::'], // the longest run wins
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'], // one zero group stays
    [[0xfe80, 0, 0, 0, 0xabcd, 0xef, 0x1234, 0x5678], 'fe80::abcd:ef:1234:5678'],
    [[0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff], 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [groups, text] of cases) {
    const header = readProxyHeader(v2(PROXY, TCP6, ipv6Body(groups, [0, 0, 0, 0, 0, 0, 0, 1], 1, 2)));
    t.strictSame(header, done(text, 1, 52), text);
  }
});

t.test('an IPv4 client in IPv6 form is named as IPv4, as a dual-stack socket peer is', async (t) => {
  // HAProxy bound to [::] sends an IPv4 client as ::ffff:a.b.c.d in a TCP6
  // header; porta's own listener shows such a peer as a.b.c.d (net/report.ts
  // plainAddress), so REMOTE_ADDR and the log must not depend on the path.
  const mapped = v2(PROXY, TCP6, ipv6Body([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201], [0, 0, 0, 0, 0, 0, 0, 1], 5, 80));
  t.strictSame(readProxyHeader(mapped), done('192.0.2.1', 5, 52));
  const line = 'PROXY TCP6 ::ffff:192.0.2.1 ::1 5 80\r\n';
  t.strictSame(readProxyHeader(latin1(line)), done('192.0.2.1', 5, line.length));
  // Not mapped (::ffff:0:0/96 only): these stay IPv6.
  const compat = v2(PROXY, TCP6, ipv6Body([0, 0, 0, 0, 0, 0xfffe, 0xc000, 0x0201], [0, 0, 0, 0, 0, 0, 0, 1], 5, 80));
  t.strictSame(readProxyHeader(compat), done('::fffe:c000:201', 5, 52));
});

t.test('v2: LOCAL and UNSPEC keep the peer', async (t) => {
  t.strictSame(readProxyHeader(v2(LOCAL, 0x00)), { kind: 'done', client: null, length: 16 });
  // LOCAL with addresses: they are the balancer's own, and ignored.
  const local = v2(LOCAL, TCP4, ipv4Body([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443));
  t.strictSame(readProxyHeader(local), { kind: 'done', client: null, length: 28 });
  t.strictSame(readProxyHeader(v2(PROXY, 0x00)), { kind: 'done', client: null, length: 16 });
  t.strictSame(readProxyHeader(v2(PROXY, 0x00, [1, 2, 3, 4])), { kind: 'done', client: null, length: 20 });
});

t.test('v2: TLVs after the addresses are skipped', async (t) => {
  const tlvs = Buffer.concat([
    Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]), // PP2_TYPE_ALPN "h2"
    Buffer.from([0x04, 0x00, 0x03, 0x00, 0x00, 0x00]), // PP2_TYPE_NOOP, 3 bytes
    Buffer.from([0x05, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]), // PP2_TYPE_UNIQUE_ID
  ]);
  const body = Buffer.concat([ipv4Body([203, 0, 113, 9], [198, 51, 100, 2], 40000, 443), tlvs]);
  const header = v2(PROXY, TCP4, body);
  t.strictSame(readProxyHeader(Buffer.concat([header, latin1('GET')])), done('203.0.113.9', 40000, 16 + 12 + 18));
  const six = v2(
    PROXY,
    TCP6,
    Buffer.concat([ipv6Body([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0, 0, 0, 0, 0, 0, 0, 1], 9, 443), tlvs]),
  );
  t.strictSame(readProxyHeader(six), done('2001:db8::7', 9, 16 + 36 + 18));
  // The largest header porta waits for: 4096 bytes after the first 16.
  const big = v2(PROXY, TCP4, Buffer.concat([ipv4Body([192, 0, 2, 1], [192, 0, 2, 2], 1, 2), Buffer.alloc(4084)]));
  t.strictSame(readProxyHeader(big), done('192.0.2.1', 1, 16 + 4096));
  t.strictSame(readProxyHeader(big.subarray(0, 4000)), { kind: 'more' });
});

t.test('v2: bad version, command, family or lengths are refused', async (t) => {
  const addresses = ipv4Body([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443);
  isBad(t, readProxyHeader(v2(0x11, TCP4, addresses)), 'version 1 in a v2 header');
  isBad(t, readProxyHeader(v2(0x31, TCP4, addresses)), 'version 3');
  isBad(t, readProxyHeader(v2(0x01, TCP4, addresses)), 'version 0');
  isBad(t, readProxyHeader(v2(0x22, TCP4, addresses)), 'command 2');
  isBad(t, readProxyHeader(v2(0x2f, TCP4, addresses)), 'command 15');
  isBad(t, readProxyHeader(v2(PROXY, 0x41, addresses)), 'family 4');
  isBad(t, readProxyHeader(v2(PROXY, 0x13, addresses)), 'transport 3');
  isBad(t, readProxyHeader(v2(PROXY, 0x01, addresses)), 'UNSPEC family with a transport');
  isBad(t, readProxyHeader(v2(PROXY, TCP4, addresses.subarray(0, 11))), 'IPv4 addresses one byte short');
  isBad(t, readProxyHeader(v2(PROXY, TCP6, Buffer.alloc(35))), 'IPv6 addresses one byte short');
  isBad(t, readProxyHeader(v2(PROXY, TCP6, addresses)), 'IPv4 addresses under TCP6');
  // A length past the limit is refused on the first 16 bytes, not waited for.
  const huge = v2(PROXY, TCP4, addresses);
  huge.writeUInt16BE(4097, 14);
  isBad(t, readProxyHeader(huge.subarray(0, 16)), 'length 4097');
  huge.writeUInt16BE(0xffff, 14);
  isBad(t, readProxyHeader(huge.subarray(0, 16)), 'length 65535');
  // The version is known with the 13th byte; the rest is waited for only when it is 2.
  isBad(t, readProxyHeader(v2(0x11, TCP4, addresses).subarray(0, 16)), 'version 1, header cut');
});

t.test('v2: a header cut at every byte is "more" until it is whole', async (t) => {
  const headers = [
    v2(PROXY, TCP4, ipv4Body([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443)),
    v2(PROXY, TCP6, ipv6Body([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1], 4711, 443)),
    v2(LOCAL, 0x00),
    v2(PROXY, TCP4, Buffer.concat([ipv4Body([192, 0, 2, 1], [198, 51, 100, 2], 1, 2), Buffer.from([4, 0, 2, 0, 0])])),
  ];
  for (const header of headers) {
    const bytes = Buffer.concat([header, latin1('GET / HTTP/1.1\r\n')]);
    for (let n = 0; n < header.length; n++) {
      const read = readProxyHeader(bytes.subarray(0, n));
      if (read.kind !== 'more') t.fail(`a ${header.length}-byte header cut at ${n}: ${JSON.stringify(read)}`);
    }
    for (let n = header.length; n <= bytes.length; n++) {
      const read = readProxyHeader(bytes.subarray(0, n));
      t.equal(read.kind === 'done' ? read.length : -1, header.length, `${header.length}-byte header, ${n} bytes`);
    }
  }
});

// ---- over a real porta -----------------------------------------------------------

interface Cli {
  port: number;
  stderr(): string;
}

/** `node build/src/cli.js` on port 0 with `args`, killed when `t` ends. */
async function startCli(t: Test, root: string, args: string[]): Promise<Cli> {
  // Without NODE_OPTIONS: under tap it carries the runner's --import hooks, no business of a server's.
  const { NODE_OPTIONS: _, ...env } = process.env;
  const child = spawn(process.execPath, [CLI, '-d', root, '-b', '127.0.0.1', '--port', '0', '--quiet', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  t.teardown(async () => {
    if (alive) child.kill('SIGKILL');
    await exited;
    if (!t.passing()) process.stderr.write(`--- porta's stderr (${t.name}) ---\n${stderr}---\n`);
  });
  const deadline = Date.now() + 10_000;
  let port: number | null = null;
  while (port === null && alive && Date.now() < deadline) {
    port = Number(/https?:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout)?.[1] ?? Number.NaN);
    if (Number.isNaN(port)) port = null;
    if (port === null) await sleep(20);
  }
  if (port === null) throw new Error(`porta did not start: ${stdout} ${stderr}`);
  return { port, stderr: () => stderr };
}

interface Conversation {
  data: Buffer;
  /** The server closed (FIN or reset) before the time ran out. */
  closed: boolean;
  /** The client socket's own port: what REMOTE_PORT is when no header names another. */
  localPort: number;
}

/**
 * One connection from `localAddress`: the pieces written one by one (`gapMs`
 * apart), everything received until the server closes or `until` is met.
 */
function converse(
  port: number,
  pieces: Array<string | Buffer>,
  options: { localAddress?: string; gapMs?: number; timeoutMs?: number; until?: (data: Buffer) => boolean } = {},
): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ port, host: '127.0.0.1', localAddress: options.localAddress ?? '127.0.0.1' });
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let finished = false;
    let localPort = 0;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed, localPort });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (options.until?.(Buffer.concat(chunks)) === true) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else if (!finished) reject(err);
    });
    socket.on('connect', async () => {
      localPort = socket.localPort ?? 0;
      for (const piece of pieces) {
        if (socket.destroyed) return;
        socket.write(piece);
        if (options.gapMs !== undefined) await sleep(options.gapMs);
      }
    });
  });
}

/** The CGI program's answer: "REMOTE_ADDR REMOTE_PORT". */
function remote(data: Buffer): string[] {
  return parseResponses(data).map((r) => `${r.status} ${r.body.toString('latin1').trim()}`);
}

const GET_ADDR = 'GET /cgi-bin/addr.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** A root whose cgi-bin/addr.sh says REMOTE_ADDR and REMOTE_PORT. */
function addrSite(t: Test): string {
  const { dir, remove } = tempDir('porta-proxy-');
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'), { mode: 0o755 });
  writeFileSync(
    join(dir, 'cgi-bin', 'addr.sh'),
    '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s %s\\n" "$REMOTE_ADDR" "$REMOTE_PORT"\n',
    { mode: 0o755 },
  );
  return dir;
}

t.test('over a real porta (--proxy-protocol --trust-proxy 127.0.0.1)', async (t) => {
  const dir = addrSite(t);
  writeFileSync(join(dir, 'hello.txt'), 'hello\n', { mode: 0o644 });
  // Pipe mode: a CGI answer can keep the connection alive (socket mode hands the socket over).
  const server = await startCli(t, dir, [
    '--proxy-protocol',
    '--trust-proxy',
    '127.0.0.1',
    '--cgi-stdout',
    'pipe',
    // An idle connection (one whose PROXY header never ends, too) goes after a second.
    '--keepalive-timeout',
    '1',
  ]);
  const port = server.port;

  t.test('v1 TCP4: the header names REMOTE_ADDR and REMOTE_PORT', async (t) => {
    const r = await converse(port, [`PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n${GET_ADDR}`]);
    t.strictSame(remote(r.data), ['200 192.0.2.1 56324']);
  });

  t.test('v1 TCP6', async (t) => {
    const r = await converse(port, [`PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n${GET_ADDR}`]);
    t.strictSame(remote(r.data), ['200 2001:db8::1 4711']);
  });

  t.test('v1 UNKNOWN keeps the socket peer', async (t) => {
    const r = await converse(port, [`PROXY UNKNOWN\r\n${GET_ADDR}`]);
    t.strictSame(remote(r.data), [`200 127.0.0.1 ${r.localPort}`]);
    t.ok(r.localPort > 0);
  });

  t.test('v2 TCP4 and TCP6', async (t) => {
    const four = v2(PROXY, TCP4, ipv4Body([203, 0, 113, 7], [198, 51, 100, 2], 40001, 443));
    t.strictSame(remote((await converse(port, [Buffer.concat([four, latin1(GET_ADDR)])])).data), [
      '200 203.0.113.7 40001',
    ]);
    const six = v2(PROXY, TCP6, ipv6Body([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42], [0, 0, 0, 0, 0, 0, 0, 1], 4242, 443));
    t.strictSame(remote((await converse(port, [Buffer.concat([six, latin1(GET_ADDR)])])).data), [
      '200 2001:db8::42 4242',
    ]);
    // An IPv4 client in IPv6 form (a balancer bound to [::]): REMOTE_ADDR is the IPv4 address.
    const mapped = v2(
      PROXY,
      TCP6,
      ipv6Body([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0209], [0, 0, 0, 0, 0, 0, 0, 1], 4243, 443),
    );
    t.strictSame(remote((await converse(port, [Buffer.concat([mapped, latin1(GET_ADDR)])])).data), [
      '200 192.0.2.9 4243',
    ]);
  });

  t.test('v2 with TLVs', async (t) => {
    const body = Buffer.concat([
      ipv4Body([198, 51, 100, 77], [198, 51, 100, 2], 1234, 443),
      Buffer.from([1, 0, 2, 0x68, 0x32]),
    ]);
    const r = await converse(port, [Buffer.concat([v2(PROXY, TCP4, body), latin1(GET_ADDR)])]);
    t.strictSame(remote(r.data), ['200 198.51.100.77 1234']);
  });

  t.test('v2 LOCAL keeps the socket peer', async (t) => {
    const r = await converse(port, [Buffer.concat([v2(LOCAL, 0x00), latin1(GET_ADDR)])]);
    t.strictSame(remote(r.data), [`200 127.0.0.1 ${r.localPort}`]);
  });

  t.test('a header split across TCP writes, with pauses, then the request', async (t) => {
    const line = 'PROXY TCP4 192.0.2.33 198.51.100.2 33333 443\r\n';
    const r1 = await converse(
      port,
      [line.slice(0, 3), line.slice(3, 20), line.slice(20, -1), line.slice(-1), GET_ADDR],
      {
        gapMs: 40,
      },
    );
    t.strictSame(remote(r1.data), ['200 192.0.2.33 33333']);
    const header = v2(PROXY, TCP4, ipv4Body([192, 0, 2, 34], [198, 51, 100, 2], 34343, 443));
    const pieces = [header.subarray(0, 5), header.subarray(5, 13), header.subarray(13, 16), header.subarray(16, 27)];
    // The last byte of the header arrives with the first bytes of the request.
    pieces.push(Buffer.concat([header.subarray(27), latin1(GET_ADDR.slice(0, 10))]), latin1(GET_ADDR.slice(10)));
    const r2 = await converse(port, pieces, { gapMs: 40 });
    t.strictSame(remote(r2.data), ['200 192.0.2.34 34343']);
  });

  t.test('one byte a write', async (t) => {
    const bytes = latin1(`PROXY TCP4 192.0.2.35 198.51.100.2 35353 443\r\n${GET_ADDR}`);
    const pieces = [...bytes].map((b) => Buffer.from([b]));
    const r = await converse(port, pieces, { gapMs: 2, timeoutMs: 8000 });
    t.strictSame(remote(r.data), ['200 192.0.2.35 35353']);
  });

  t.test('keep-alive: every request after one header keeps the proxied address', async (t) => {
    const keep = 'GET /cgi-bin/addr.sh HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await converse(port, [`PROXY TCP4 192.0.2.50 198.51.100.2 50505 443\r\n${keep}`, keep, keep, GET_ADDR], {
      gapMs: 150,
    });
    t.strictSame(remote(r.data), Array(4).fill('200 192.0.2.50 50505'));
    // Pipelined in one write after the header, a static file in between.
    const hello = 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n';
    const p = await converse(port, [`PROXY TCP4 192.0.2.51 198.51.100.2 51515 443\r\n${keep}${hello}${GET_ADDR}`]);
    t.strictSame(remote(p.data), ['200 192.0.2.51 51515', '200 hello', '200 192.0.2.51 51515']);
  });

  t.test('a second PROXY line on the same connection is HTTP (and a bad request)', async (t) => {
    const keep = 'GET /cgi-bin/addr.sh HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await converse(port, [
      `PROXY TCP4 192.0.2.52 198.51.100.2 52525 443\r\n${keep}PROXY TCP4 192.0.2.99 198.51.100.2 9 443\r\n${GET_ADDR}`,
    ]);
    const answers = parseResponses(r.data);
    t.equal(answers[0]?.body.toString().trim(), '192.0.2.52 52525');
    // "PROXY" is read as a method porta does not know: 501 (RFC 9110 §9.1), and the connection closes.
    t.equal(answers[1]?.status, 501, 'the second line is an HTTP request line, not a new header');
    t.equal(answers.length, 2);
  });

  t.test('no header, garbage or a bad header: closed, nothing sent', async (t) => {
    const cases: Array<[string, Array<string | Buffer>]> = [
      ['an HTTP request', [GET_ADDR]],
      ['garbage', ['\x00\x01\x02garbage\r\n\r\n']],
      ['a malformed v1 line', [`PROXY TCP4 192.0.2.1 198.51.100.2 99999 443\r\n${GET_ADDR}`]],
      ['a v1 line too long', [`PROXY UNKNOWN ${'x'.repeat(120)}\r\n${GET_ADDR}`]],
      ['v1 ended by LF alone', [`PROXY TCP4 192.0.2.1 198.51.100.2 1 443\n${GET_ADDR}`]],
      [
        'a v2 version 1',
        [Buffer.concat([v2(0x11, TCP4, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), latin1(GET_ADDR)])],
      ],
      ['a v2 family 0x41', [Buffer.concat([v2(PROXY, 0x41, Buffer.alloc(12)), latin1(GET_ADDR)])]],
      ['a TLS ClientHello', [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03])]],
    ];
    for (const [what, pieces] of cases) {
      const r = await converse(port, pieces);
      t.ok(r.closed, `${what}: closed`);
      t.equal(r.data.length, 0, `${what}: no byte answered (${JSON.stringify(r.data.toString('latin1'))})`);
    }
  });

  t.test('a header that never ends is closed when the idle time runs out, unanswered', async (t) => {
    // The first 10 bytes of a v2 header, then nothing: porta waits, then gives up without a word.
    const r = await converse(port, [SIGNATURE.subarray(0, 10)], { timeoutMs: 5000 });
    t.ok(r.closed, 'closed');
    t.equal(r.data.length, 0);
  });

  t.test('a PROXY header from a peer that is not trusted: closed, nothing sent', async (t) => {
    const line = `PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n${GET_ADDR}`;
    const r = await converse(port, [line], { localAddress: '127.0.0.2' });
    t.ok(r.closed, 'closed');
    t.equal(r.data.length, 0, `nothing answered: ${JSON.stringify(r.data.toString('latin1'))}`);
    const v = await converse(
      port,
      [Buffer.concat([v2(PROXY, TCP4, ipv4Body([192, 0, 2, 1], [1, 2, 3, 4], 1, 2)), latin1(GET_ADDR)])],
      { localAddress: '127.0.0.2' },
    );
    t.ok(v.closed && v.data.length === 0, 'v2 too');
    // The same bytes from the trusted peer are served: the refusal was the peer's.
    t.strictSame(remote((await converse(port, [line])).data), ['200 192.0.2.1 56324']);
    t.match(server.stderr(), /connection refused: PROXY header from 127\.0\.0\.2, not a trusted proxy/);
  });
});

// With TLS the PROXY header comes first on the wire, in the clear, before
// the ClientHello (HAProxy's send-proxy, curl --haproxy-protocol). porta used
// to look for it inside the TLS stream, so every such connection failed.
t.test('over HTTPS: the PROXY header before the TLS handshake', async (t) => {
  const dir = addrSite(t);
  const { cert, key } = selfSignedCertificate(dir);
  const server = await startCli(t, dir, [
    '--proxy-protocol',
    '--trust-proxy',
    '127.0.0.1',
    '--tls-cert',
    cert,
    '--tls-key',
    key,
  ]);
  /** PROXY header `header` in the clear, then TLS, then GET_ADDR: the answer, or null if the connection failed. */
  const ask = (header: Buffer | string): Promise<string | null> =>
    new Promise((resolve) => {
      const raw = connect({ port: server.port, host: '127.0.0.1' }, () => {
        raw.write(header);
        const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => {
          secure.write(GET_ADDR);
        });
        let text = '';
        secure.on('data', (d: Buffer) => {
          text += d.toString('latin1');
        });
        secure.on('error', () => resolve(null));
        secure.on('close', () => resolve(text === '' ? null : text));
      });
      raw.on('error', () => resolve(null));
    });
  const answer = async (header: Buffer | string): Promise<string[]> => {
    const text = await ask(header);
    return text === null ? ['no answer'] : remote(Buffer.from(text, 'latin1'));
  };
  t.strictSame(
    await answer('PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n'),
    ['200 192.0.2.1 56324'],
    'v1: the client the header names, over TLS',
  );
  const four = v2(PROXY, TCP4, ipv4Body([203, 0, 113, 7], [198, 51, 100, 2], 40001, 443));
  t.strictSame(await answer(four), ['200 203.0.113.7 40001'], 'v2 as well');
  t.equal(await ask('GET / HTTP/1.1\r\n\r\n'), null, 'no PROXY header: closed');
  await sleep(100);
  t.match(server.stderr(), /connection refused: no PROXY protocol header/, 'and the log says why');
});
