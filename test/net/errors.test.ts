// Every error mapping of the core, over raw sockets and with both llhttp
// builds: malformed or refused requests get the status from the errors table
// (src/http/errors.ts), `Connection: close`, and the connection closes; the
// server keeps serving new connections afterwards.

import t, { type Test } from 'tap';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import type { ParserKind } from '../../src/http/parser';
import {
  Collector,
  type ParsedResponse,
  type TestServer,
  openSocket,
  parseResponses,
  rawRequest,
  startPorta,
  tempDir,
} from '../helpers/porta';

const CGI_FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cgi-bin');
const HELLO = 'Hello from porta.\n';

async function server(t: Test, parser: ParserKind): Promise<TestServer> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'hello.txt'), HELLO);
  mkdirSync(join(dir, 'cgi-bin'));
  cpSync(join(CGI_FIXTURES, 'echo.py'), join(dir, 'cgi-bin', 'echo.py'));
  const s = await startPorta({
    root: dir,
    parser,
    cgiStdout: 'pipe',
    cgiSpawn: 'child_process',
    limits: { maxBodySize: 1000 },
  });
  t.teardown(() => s.close());
  return s;
}

/** The first response in `data`, or undefined when none (or only part of one) arrived. */
function first(data: Buffer, head = false): ParsedResponse | undefined {
  try {
    return parseResponses(data, [head])[0];
  } catch {
    return undefined;
  }
}

function show(data: Buffer): string {
  return JSON.stringify(data.subarray(0, 300).toString('latin1'));
}

/** Status line, Date, Server, framing and Connection: close of an error answer; the socket closed. */
function checkClosingError(t: Test, data: Buffer, closed: boolean, allowed: number[]): number | undefined {
  const r = first(data);
  if (r === undefined) {
    t.fail(`expected ${allowed.join(' or ')}, got ${show(data)}`);
    return undefined;
  }
  t.ok(
    allowed.includes(r.status),
    `status ${r.status} is one of ${allowed.join(', ')}: ${JSON.stringify(r.statusLine)}`,
  );
  t.equal(r.statusLine, `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}`, 'exact status line');
  t.not(r.status, 101, 'never 101');
  t.match(r.headers['date'] ?? '', /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, 'Date');
  t.match(r.headers['server'] ?? '', /^porta\//, 'Server');
  t.equal(r.headers['connection'], 'close', 'Connection: close');
  t.equal(Number(r.headers['content-length']), r.body.length, 'Content-Length frames the page');
  t.ok(closed, 'the server closed the connection');
  return r.status;
}

async function stillServes(t: Test, port: number): Promise<void> {
  const { data } = await rawRequest(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const r = first(data);
  t.equal(r?.status, 200, 'a new connection is still served');
  t.equal(r?.body.toString(), HELLO);
}

interface ErrorCase {
  name: string;
  bytes: string | Buffer;
  allowed: number[];
}

const CASES: ErrorCase[] = [
  { name: 'garbage instead of a request line', bytes: 'GARBAGE\r\n\r\n', allowed: [400] },
  {
    name: 'a TLS ClientHello on the plain port',
    bytes: Buffer.from('16030100a5010000a10303' + '00'.repeat(32) + '\r\n\r\n', 'hex'),
    allowed: [400],
  },
  { name: 'a request line with a fourth word', bytes: 'GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n', allowed: [400] },
  { name: 'a lowercase protocol name', bytes: 'GET / http/1.1\r\nHost: x\r\n\r\n', allowed: [400, 505] },
  { name: 'a header line without a colon', bytes: 'GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n', allowed: [400] },
  {
    name: 'a header field over the head limit',
    bytes: `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`,
    allowed: [431],
  },
  {
    name: 'many small header fields over the head limit',
    bytes: `GET / HTTP/1.1\r\nHost: x\r\n${'X-Field: 0123456789abcdef\r\n'.repeat(800)}\r\n`,
    allowed: [431],
  },
  { name: 'a 9000-byte request-target', bytes: `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`, allowed: [414] },
  // RFC 9110 §15.5.15: a target too long is 414 whatever other limit it also breaks;
  // 431 (RFC 6585 §5) is about header fields, and the target is not one.
  {
    name: 'a 20000-byte request-target (longer than the whole head limit)',
    bytes: `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    allowed: [414],
  },
  { name: 'HTTP/1.2', bytes: 'GET / HTTP/1.2\r\nHost: x\r\n\r\n', allowed: [505] },
  { name: 'HTTP/2.0 in a request line', bytes: 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', allowed: [505] },
  { name: 'the HTTP/2 connection preface', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', allowed: [400, 505] },
  { name: 'HTTP/0.9-style request line followed by a blank line', bytes: 'GET /\r\n\r\n', allowed: [400, 505] },
  // RFC 9112 §6.1 (501 for a coding not understood) or §6.3 (400 when chunked is not final).
  {
    name: 'Transfer-Encoding: gzip',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
    allowed: [400, 501],
  },
  {
    name: 'Transfer-Encoding: chunked, gzip',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
    allowed: [400, 501],
  },
  {
    name: 'Transfer-Encoding on an HTTP/1.0 request',
    bytes: 'POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    allowed: [400],
  },
  {
    name: 'whitespace before the colon (Content-Length : 3)',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc',
    allowed: [400],
  },
  { name: 'obs-fold', bytes: 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n', allowed: [400] },
  {
    name: 'two different Content-Length fields',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    allowed: [400],
  },
  {
    name: 'Content-Length as a list of two values',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd',
    allowed: [400],
  },
  {
    name: 'Content-Length and Transfer-Encoding together',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    allowed: [400],
  },
  {
    name: 'Transfer-Encoding and Content-Length together',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    allowed: [400],
  },
  {
    name: 'a signed Content-Length',
    bytes: 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc',
    allowed: [400],
  },
  { name: 'LF-only line endings', bytes: 'GET /hello.txt HTTP/1.1\nHost: x\n\n', allowed: [400] },
  { name: 'HTTP/1.1 without Host', bytes: 'GET /hello.txt HTTP/1.1\r\n\r\n', allowed: [400] },
  {
    name: 'HTTP/1.1 with two Host fields',
    bytes: 'GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
    allowed: [400],
  },
  {
    name: 'HTTP/1.0 with two Host fields',
    bytes: 'GET /hello.txt HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n',
    allowed: [400],
  },
  {
    name: 'CONNECT',
    bytes: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    allowed: [400, 405, 501],
  },
  {
    name: 'CONNECT followed by tunnel bytes',
    bytes: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01\x00\x05hello',
    allowed: [400, 405, 501],
  },
  // RFC 9110 §9.1: an unrecognised method SHOULD be 501.
  { name: 'a method llhttp does not know', bytes: 'FROB /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n', allowed: [501] },
  { name: 'Expect: foo', bytes: 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n', allowed: [417] },
  {
    name: 'a declared body over the limit',
    bytes: 'POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n',
    allowed: [413],
  },
  {
    name: 'a chunked body over the limit',
    bytes: `POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'x'.repeat(0x800)}\r\n0\r\n\r\n`,
    allowed: [413],
  },
];

for (const parser of ['wasm', 'native'] as const) {
  t.test(`${parser} parser`, async (t) => {
    const s = await server(t, parser);

    for (const c of CASES) {
      t.test(c.name, async (t) => {
        const { data, closed } = await rawRequest(s.port, c.bytes, { timeoutMs: 2500 });
        const status = checkClosingError(t, data, closed, c.allowed);
        if (status !== undefined && c.allowed.length > 1) t.comment(`${c.name}: porta answers ${status}`);
        await stillServes(t, s.port);
      });
    }

    // RFC 9112 §3: a request-line without HTTP-version is invalid; "GET /\r\n" is a
    // complete HTTP/0.9 request and its client waits for an answer now, not after
    // the head timeout (default 10 s). Issue 2: "HTTP/0.9 → 505 or 400".
    t.test('HTTP/0.9 "GET /\\r\\n" is answered 505 or 400 at once', async (t) => {
      const { data, closed } = await rawRequest(s.port, 'GET /\r\n', { timeoutMs: 2000 });
      checkClosingError(t, data, closed, [400, 505]);
      await stillServes(t, s.port);
    });

    t.test('HTTP/1.0 without Host is fine', async (t) => {
      const { data } = await rawRequest(s.port, 'GET /hello.txt HTTP/1.0\r\n\r\n');
      t.equal(first(data)?.status, 200);
    });

    t.test('Upgrade: websocket is ignored: a normal answer, never 101, and the connection stays HTTP', async (t) => {
      const upgrade =
        'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
      const { data } = await rawRequest(
        s.port,
        upgrade + 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const responses = parseResponses(data);
      t.equal(responses.length, 2, 'both requests answered');
      for (const r of responses) {
        t.equal(r.statusLine, 'HTTP/1.1 200 OK');
        t.equal(r.headers['upgrade'], undefined, 'no Upgrade in the answer');
        t.equal(r.body.toString(), HELLO);
      }
      t.notMatch(data.toString('latin1'), /^HTTP\/1\.1 101/m);
    });

    t.test('Upgrade: h2c is ignored too', async (t) => {
      const { data } = await rawRequest(
        s.port,
        'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
        { timeoutMs: 1000 },
      );
      const r = first(data);
      t.equal(r?.statusLine, 'HTTP/1.1 200 OK');
      t.notMatch(data.toString('latin1'), /^HTTP\/1\.1 101/m);
    });

    t.test('an error after a good pipelined request: the first is answered, then the error, then close', async (t) => {
      const { data, closed } = await rawRequest(s.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n');
      const text = data.toString('latin1');
      const second = text.indexOf('HTTP/1.1 400 ');
      t.ok(text.startsWith('HTTP/1.1 200 OK\r\n'), 'the good request first');
      t.ok(second > 0, 'then 400');
      t.ok(closed);
      const r = first(data.subarray(second));
      t.equal(r?.headers['connection'], 'close');
    });

    t.test('Expect: 100-continue: "100 Continue" before the body is read, then the final answer', async (t) => {
      const socket = await openSocket(s.port);
      const c = new Collector(socket);
      socket.write(
        'POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
      );
      t.ok(
        await c.waitFor(() => c.data.includes('\r\n\r\n')),
        'an interim answer arrives before any body byte is sent',
      );
      t.equal(c.data.toString('latin1'), 'HTTP/1.1 100 Continue\r\n\r\n', 'exactly the 100 Continue');
      socket.write('hello');
      await c.waitFor(() => c.closed, 5000);
      const responses = parseResponses(c.data);
      t.equal(responses[0]?.status, 100);
      t.equal(responses[1]?.status, 200);
      t.equal(responses[1]?.body.toString(), 'hello', 'the body reached the program');
      socket.destroy();
    });

    t.test('Expect: 100-continue on HTTP/1.0 gets no 100 (RFC 9110 §10.1.1)', async (t) => {
      const { data } = await rawRequest(
        s.port,
        'POST /cgi-bin/echo.py HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi',
        { timeoutMs: 5000 },
      );
      t.notMatch(data.toString('latin1'), /^HTTP\/1\.1 100/, 'no interim answer to a 1.0 client');
      t.equal(first(data)?.status, 200);
    });

    // RFC 9110 §10.1.1: a server that answers before reading the content SHOULD
    // say whether it closes (RFC 9112 §9.6) or reads on; a client that never
    // hears 100 may still send the body.
    t.test('Expect: 100-continue with a final answer first: no 100, and a close is announced', async (t) => {
      const socket = await openSocket(s.port);
      const c = new Collector(socket);
      socket.write('POST /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      await c.waitFor(() => first(c.data) !== undefined);
      const r = first(c.data);
      t.equal(r?.status, 405, 'the final answer instead of 100');
      t.notMatch(c.data.toString('latin1'), /100 Continue/);
      await c.waitFor(() => c.closed, 800);
      if (c.closed)
        t.equal(r?.headers['connection'], 'close', 'the server closed, so the answer says Connection: close');
      else {
        socket.write('helloGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        await c.waitFor(() => c.closed);
        t.equal(parseResponses(c.data)[1]?.status, 200, 'kept open: the body is read and the next request answered');
      }
      socket.destroy();
    });
  });
}
