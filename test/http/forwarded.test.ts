// Who the client is behind trusted proxies (--trust-proxy): clientAddress
// reads X-Forwarded-For or Forwarded (RFC 7239) only from a trusted peer,
// right to left past every trusted hop, and stops at anything that is not an
// address. AddressRanges is the CIDR matching under it (and under
// --status-allow): IPv4, IPv6, single addresses, IPv4-mapped peers, and the
// ranges it must refuse at start-up.

import t from 'tap';
import { AddressRanges, LOOPBACK_RANGES } from '../../src/http/cidr';
import { clientAddress } from '../../src/http/forwarded';
import { Request } from '../../src/http/request';

/** A request from `peer` with these header fields (name, value, name, value…), as the parser gives them. */
function request(peer: string, ...fields: string[]): Request {
  return new Request(
    { method: 'GET', url: '/', versionMajor: 1, versionMinor: 1, rawHeaders: fields, keepAlive: true, upgrade: false },
    { remoteAddress: peer, remotePort: 40000, localAddress: '127.0.0.1', localPort: 8080, secure: false },
  );
}

const TEN = new AddressRanges(['10.0.0.0/8']);

t.test('X-Forwarded-For: right to left, past trusted hops', async (t) => {
  // The proxy 10.0.0.1 appended the address it saw; what the client wrote (the left) is not believed.
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1'), TEN), '198.51.100.1');
  t.equal(
    clientAddress(request('10.0.0.1', 'X-Forwarded-For', '6.6.6.6, 203.0.113.9, 10.0.0.2'), TEN),
    '203.0.113.9',
    'the first untrusted hop from the right; the spoofed left end is ignored',
  );
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '10.0.0.3, 10.0.0.2'), TEN), '10.0.0.3', 'all trusted');
  t.equal(clientAddress(request('10.0.0.1', 'x-forwarded-for', ' 198.51.100.1 ,10.0.0.2 '), TEN), '198.51.100.1');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '2001:db8::5'), TEN), '2001:db8::5', 'IPv6');
  // Two field lines are one list, in order (RFC 9110 §5.3).
  t.equal(
    clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1', 'X-Forwarded-For', '10.0.0.2'), TEN),
    '198.51.100.1',
  );
  t.equal(
    clientAddress(request('10.0.0.1', 'X-Forwarded-For', '10.0.0.2', 'X-Forwarded-For', '198.51.100.1'), TEN),
    '198.51.100.1',
  );
  // A trusted peer without the header is the client itself.
  t.equal(clientAddress(request('10.0.0.1', 'Host', 'x'), TEN), '10.0.0.1');
});

t.test('an untrusted peer: its headers are ordinary headers', async (t) => {
  t.equal(clientAddress(request('203.0.113.5', 'X-Forwarded-For', '10.0.0.9'), TEN), '203.0.113.5');
  t.equal(clientAddress(request('203.0.113.5', 'Forwarded', 'for=10.0.0.9'), TEN), '203.0.113.5');
  // Never trusted by default: no ranges, no belief, not even from loopback.
  const none = new AddressRanges([]);
  t.equal(clientAddress(request('127.0.0.1', 'X-Forwarded-For', '198.51.100.1'), none), '127.0.0.1');
  t.equal(clientAddress(request('10.0.0.1', 'Forwarded', 'for=198.51.100.1'), none), '10.0.0.1');
});

t.test('a hop that is not an address stops the walk', async (t) => {
  // The hop right of the garbage was trusted and said it: it is the client.
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1, garbage, 10.0.0.2'), TEN), '10.0.0.2');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1, unknown'), TEN), '10.0.0.1');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', ''), TEN), '10.0.0.1', 'empty');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1, , 10.0.0.2'), TEN), '10.0.0.2');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1:4711'), TEN), '10.0.0.1', 'a port');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '[2001:db8::1]'), TEN), '10.0.0.1', 'brackets');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1 10.0.0.2'), TEN), '10.0.0.1', 'space');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '999.1.1.1'), TEN), '10.0.0.1', 'octet 999');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '<script>'), TEN), '10.0.0.1');
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '1.2.3.4\t'), TEN), '1.2.3.4', 'trimmed');
});

t.test('Forwarded (RFC 7239)', async (t) => {
  const peer = '10.0.0.1';
  const cases: Array<[string, string, string]> = [
    ['for=192.0.2.60;proto=http;by=203.0.113.43', '192.0.2.60', 'one element, more parameters'],
    ['proto=http;for=192.0.2.60', '192.0.2.60', 'for= not first'],
    ['For=192.0.2.60', '192.0.2.60', 'parameter names are case-insensitive'],
    ['FOR="192.0.2.60"', '192.0.2.60', 'quoted'],
    ['for="192.0.2.43:47011"', '192.0.2.43', 'IPv4 with a port'],
    ['for="[2001:db8:cafe::17]"', '2001:db8:cafe::17', 'quoted IPv6'],
    ['for="[2001:db8:cafe::17]:4711"', '2001:db8:cafe::17', 'quoted IPv6 with a port'],
    ['for=192.0.2.43, for=198.51.100.17', '198.51.100.17', 'the right one of two'],
    ['for=198.51.100.17, for=10.0.0.5;proto=https', '198.51.100.17', 'past a trusted hop'],
    ['for=192.0.2.43 ;proto=http , for="[10.0.0.5]"', '192.0.2.43', 'spaces around the separators'],
    ['for=unknown', peer, 'unknown'],
    ['for=_hidden', peer, 'obfuscated'],
    ['for=192.0.2.43, for="_gazonk"', peer, 'obfuscated rightmost hop'],
    ['for=192.0.2.43, for=unknown, for=10.0.0.5', '10.0.0.5', 'unknown in the middle stops the walk'],
    ['for="[2001:db8::1"', peer, 'an IPv6 address whose bracket never closes'],
    ['for="[2001:db8::1]x"', peer, 'bytes after the bracket that are not a port'],
    ['for=', peer, 'empty'],
    ['for="192.0.2.43', peer, 'a quote never closed'],
    ['for=192.0.2.43:abc', peer, 'a port that is not one'],
    ['for="192.0.2.43:_x-1"', '192.0.2.43', 'an obfuscated port'],
    ['for="[2001:db8::1]:_p"', '2001:db8::1', 'an obfuscated port after IPv6'],
  ];
  for (const [value, expected, what] of cases) {
    t.equal(clientAddress(request(peer, 'Forwarded', value), TEN), expected, `${what}: ${value}`);
  }
});

t.test('Forwarded: an element without for= is a hop that did not say who it saw', async (t) => {
  // The trusted proxy 10.0.0.1 appended an element of its own without for=
  // (only proto=); the element before it is the client's own word. Skipping
  // the empty element would take that word for the proxy's.
  t.equal(clientAddress(request('10.0.0.1', 'Forwarded', 'for=6.6.6.6, proto=https'), TEN), '10.0.0.1');
  t.equal(
    clientAddress(request('10.0.0.1', 'Forwarded', 'for=6.6.6.6', 'Forwarded', 'proto=https;by=10.0.0.1'), TEN),
    '10.0.0.1',
    'the same across two field lines',
  );
  t.equal(
    clientAddress(request('10.0.0.1', 'Forwarded', 'for=6.6.6.6, host=example.com, for=10.0.0.7'), TEN),
    '10.0.0.7',
    'a trusted hop left of it is as far as the walk goes',
  );
});

t.test('both headers: Forwarded wins', async (t) => {
  const r = request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1', 'Forwarded', 'for=203.0.113.2');
  t.equal(clientAddress(r, TEN), '203.0.113.2');
  const reversed = request('10.0.0.1', 'Forwarded', 'for=203.0.113.2', 'X-Forwarded-For', '198.51.100.1');
  t.equal(clientAddress(reversed, TEN), '203.0.113.2', 'whatever their order');
});

t.test('IPv4-mapped addresses', async (t) => {
  const loop = new AddressRanges(['127.0.0.1/8']);
  // A dual-stack listener's view of an IPv4 peer.
  t.equal(clientAddress(request('::ffff:127.0.0.1', 'X-Forwarded-For', '198.51.100.7'), loop), '198.51.100.7');
  t.equal(clientAddress(request('::ffff:127.3.4.5', 'X-Forwarded-For', '198.51.100.7'), loop), '198.51.100.7');
  t.equal(clientAddress(request('::ffff:128.0.0.1', 'X-Forwarded-For', '198.51.100.7'), loop), '::ffff:128.0.0.1');
  // A trusted hop in mapped form is walked past too.
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '198.51.100.1, ::ffff:10.0.0.2'), TEN), '198.51.100.1');
  // The client named in mapped form is named as IPv4, as a dual-stack socket's peer is (REMOTE_ADDR).
  t.equal(clientAddress(request('10.0.0.1', 'X-Forwarded-For', '::ffff:198.51.100.1'), TEN), '198.51.100.1');
  t.equal(clientAddress(request('10.0.0.1', 'Forwarded', 'for="[::ffff:198.51.100.1]"'), TEN), '198.51.100.1');
  // An IPv6 peer and an IPv6 range.
  const six = new AddressRanges(['::1', '2001:db8::/32']);
  t.equal(clientAddress(request('::1', 'X-Forwarded-For', '198.51.100.1'), six), '198.51.100.1');
  t.equal(clientAddress(request('2001:db8:1::9', 'X-Forwarded-For', '2001:db8::2, 2001:db8:2::1'), six), '2001:db8::2');
  t.equal(clientAddress(request('2001:db9::9', 'X-Forwarded-For', '198.51.100.1'), six), '2001:db9::9');
});

t.test('AddressRanges: matching', async (t) => {
  const r = new AddressRanges(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1', '172.16.5.9/24']);
  t.notOk(r.empty);
  const yes = ['10.0.0.0', '10.255.255.255', '10.1.2.3', '192.0.2.7', '2001:db8::', '2001:db8:ffff::1', '::1'];
  const no = ['11.0.0.0', '9.255.255.255', '192.0.2.6', '192.0.2.8', '2001:db9::', '2001:db7:ffff::', '::2'];
  for (const a of yes) t.ok(r.has(a), `${a} is in`);
  for (const a of no) t.notOk(r.has(a), `${a} is out`);
  // A range written with host bits means its network.
  t.ok(r.has('172.16.5.200'), 'a /24 given with host bits set');
  t.notOk(r.has('172.16.6.1'));
  // IPv4-mapped forms match the IPv4 ranges, in any spelling.
  t.ok(r.has('::ffff:10.1.2.3'));
  t.ok(r.has('::ffff:a01:203'), 'hex form');
  t.ok(r.has('::FFFF:10.1.2.3'), 'upper case');
  t.notOk(r.has('::ffff:11.1.2.3'));
  // Not addresses.
  for (const a of ['', '-', 'garbage', '10.1.2.3.4', '10.1.2', ' 10.1.2.3', '10.1.2.3/8', 'localhost'])
    t.notOk(r.has(a), `${JSON.stringify(a)} is not an address`);
  // The prefix bounds.
  const all4 = new AddressRanges(['0.0.0.0/0']);
  t.ok(all4.has('255.255.255.255'));
  t.ok(all4.has('0.0.0.0'));
  const host = new AddressRanges(['198.51.100.1/32', '2001:db8::1/128']);
  t.ok(host.has('198.51.100.1'));
  t.notOk(host.has('198.51.100.0'));
  t.ok(host.has('2001:db8::1'));
  t.notOk(host.has('2001:db8::2'));
});

t.test('AddressRanges: empty, and loopback', async (t) => {
  const none = new AddressRanges([]);
  t.ok(none.empty);
  t.notOk(none.has('127.0.0.1'));
  t.notOk(none.has('::1'));
  for (const a of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1'])
    t.ok(LOOPBACK_RANGES.has(a), `${a} is loopback`);
  for (const a of ['128.0.0.1', '126.255.255.255', '::2', '::', '0.0.0.0', '10.0.0.1', '203.0.113.7'])
    t.notOk(LOOPBACK_RANGES.has(a), `${a} is not loopback`);
});

t.test('AddressRanges: what is refused', async (t) => {
  const bad = [
    '',
    'garbage',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/-1',
    '10.0.0.0/',
    '10.0.0.0/8x',
    '10.0.0.0/ 8',
    '10.0.0.0/0x8',
    '10.0.0.0/8/9',
    '10.0.0/8',
    '10.0.0.256',
    '/8',
    'example.com/8',
    '2001:db8::/32/64',
  ];
  for (const range of bad) t.throws(() => new AddressRanges([range]), `${JSON.stringify(range)} is refused`);
  // What is accepted, for contrast.
  for (const range of ['10.0.0.0/8', '10.0.0.0/0', '10.0.0.0/32', '::/0', '::/128', '2001:db8::/32', '192.0.2.1'])
    t.doesNotThrow(() => new AddressRanges([range]), `${range} is accepted`);
});
