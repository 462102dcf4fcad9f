// Message framing and connection management (RFC 9112 §6, §9): Date and Server
// on every response, HTTP/1.0 vs 1.1 persistence, Connection: close, HEAD,
// pipelining of mixed requests, and requests with bodies in a pipeline.

import t, { type Test } from 'tap';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
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

const SITE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'site');
const CGI_FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cgi-bin');
const HELLO = 'Hello from porta.\n';
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';
const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

async function server(t: Test): Promise<TestServer> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  cpSync(SITE, dir, { recursive: true });
  mkdirSync(join(dir, 'cgi-bin'));
  cpSync(join(CGI_FIXTURES, 'echo.py'), join(dir, 'cgi-bin', 'echo.py'));
  const s = await startPorta(t, { root: dir, cgiStdout: 'pipe', cgiSpawn: 'child_process' });
  t.teardown(() => s.close());
  return s;
}

function complete(data: Buffer, heads: boolean[] = []): ParsedResponse | undefined {
  try {
    const [r] = parseResponses(data, heads);
    if (r === undefined) return undefined;
    const length = r.headers['content-length'];
    return heads[0] === true || length === undefined || r.body.length === Number(length) ? r : undefined;
  } catch {
    return undefined;
  }
}

t.test('framing', async (t) => {
  const s = await server(t);
  const port = s.port;

  t.test('Date and Server are on every response', async (t) => {
    const requests: Array<[string, number]> = [
      ['GET /hello.txt HTTP/1.1\r\nHost: x\r\n', 200],
      ['HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n', 200],
      ['GET /nope HTTP/1.1\r\nHost: x\r\n', 404],
      ['GET /files HTTP/1.1\r\nHost: x\r\n', 301],
      ['GET /files/ HTTP/1.1\r\nHost: x\r\n', 200],
      ['GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n', 206],
      ['GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=99-\r\n', 416],
      ['GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n', 304],
      ['DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n', 405],
      ['GET /hello.txt HTTP/1.0\r\n', 200],
      ['GET /hello.txt HTTP/1.1\r\n', 400],
      ['GET / HTTP/1.1 extra\r\nHost: x\r\n', 400],
    ];
    for (const [head, status] of requests) {
      const { data } = await rawRequest(port, `${head}Connection: close\r\n\r\n`);
      const r = complete(data, [head.startsWith('HEAD')]);
      t.equal(r?.status, status, head.split('\r\n')[0] ?? head);
      t.match(r?.headers['date'] ?? '', IMF_FIXDATE, 'Date is an IMF-fixdate');
      const date = Date.parse(r?.headers['date'] ?? '');
      t.ok(Math.abs(date - Date.now()) < 5000, 'Date is now');
      t.match(r?.headers['server'] ?? '', /^porta\/\d+\.\d+\.\d+/, 'Server');
    }
  });

  t.test('HTTP/1.0 without keep-alive: one answer, then the server closes', async (t) => {
    const { data, closed } = await rawRequest(port, 'GET /hello.txt HTTP/1.0\r\n\r\nGET /digits.txt HTTP/1.0\r\n\r\n');
    const responses = parseResponses(data);
    t.equal(responses.length, 1, 'the second request is not answered');
    t.equal(responses[0]?.statusLine, 'HTTP/1.1 200 OK', 'the server answers with its own version (RFC 9110 §6.2)');
    t.equal(responses[0]?.body.toString(), HELLO);
    t.not(responses[0]?.headers['connection'], 'keep-alive');
    t.ok(closed);
  });

  t.test('HTTP/1.0 with Connection: keep-alive stays open', async (t) => {
    const socket = await openSocket(port);
    t.teardown(() => socket.destroy());
    const c = new Collector(socket);
    socket.write('GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await c.waitFor(() => complete(c.data) !== undefined);
    const r = complete(c.data);
    t.equal(r?.status, 200);
    t.equal(r?.headers['connection'], 'keep-alive', 'the answer says keep-alive');
    t.equal(r?.headers['content-length'], String(HELLO.length), 'a 1.0 keep-alive answer is length-delimited');
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.notOk(c.closed, 'still open');
    socket.write('GET /digits.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await c.waitFor(
      () => parseResponses(c.data).length === 2 && parseResponses(c.data)[1]?.body.length === DIGITS.length,
    );
    t.equal(parseResponses(c.data)[1]?.body.toString(), DIGITS, 'second request on the same connection');
  });

  t.test('HTTP/1.1 stays open by default', async (t) => {
    const socket = await openSocket(port);
    t.teardown(() => socket.destroy());
    const c = new Collector(socket);
    socket.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor(() => complete(c.data) !== undefined);
    t.equal(complete(c.data)?.headers['connection'], undefined, 'no Connection field needed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.notOk(c.closed);
  });

  t.test('Connection: close is honoured, also as one token in a list', async (t) => {
    for (const value of ['close', 'Close', 'foo, close', 'keep-alive, close']) {
      const { data, closed } = await rawRequest(
        port,
        `GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: ${value}\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      const responses = parseResponses(data);
      t.equal(responses.length, 1, `${value}: nothing after the close`);
      t.equal(responses[0]?.headers['connection'], 'close', `${value}: the answer says close`);
      t.ok(closed, `${value}: closed`);
    }
  });

  t.test('"closed" as a substring is not close', async (t) => {
    const { data } = await rawRequest(
      port,
      'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    t.equal(parseResponses(data).length, 2);
  });

  t.test('HEAD: the same head as GET, Content-Length included, and no body', async (t) => {
    const get = complete(
      (await rawRequest(port, 'GET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).data,
    );
    const { data } = await rawRequest(port, 'HEAD /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = data.toString('latin1');
    t.ok(text.endsWith('\r\n\r\n'), 'nothing after the head');
    const head = complete(data, [true]);
    t.equal(head?.status, 200);
    t.equal(head?.headers['content-length'], String(DIGITS.length), 'Content-Length of the GET body');
    for (const name of ['content-type', 'etag', 'last-modified', 'accept-ranges'])
      t.equal(head?.headers[name], get?.headers[name], name);
  });

  t.test('HEAD of a listing, a 404 and a 301 has no body either', async (t) => {
    for (const target of ['/files/', '/nope', '/files']) {
      const { data } = await rawRequest(port, `HEAD ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      t.ok(data.toString('latin1').endsWith('\r\n\r\n'), `${target}: head only`);
      t.ok(
        Number(complete(data, [true])?.headers['content-length']) > 0,
        `${target}: Content-Length of what GET would send`,
      );
    }
  });

  t.test('pipelined GET and HEAD in one write are answered in order', async (t) => {
    const plan: Array<[string, string, number, string]> = [
      ['GET', '/hello.txt', 200, HELLO],
      ['HEAD', '/hello.txt', 200, ''],
      ['HEAD', '/digits.txt', 200, ''],
      ['GET', '/digits.txt', 200, DIGITS],
      ['HEAD', '/nope', 404, ''],
      ['GET', '/files/a.txt', 200, 'file a\n'],
      ['HEAD', '/files', 301, ''],
      ['GET', '/digits.txt', 206, '0123'],
    ];
    let bytes = '';
    plan.forEach(([method, target, status], i) => {
      bytes += `${method} ${target} HTTP/1.1\r\nHost: x\r\n${status === 206 ? 'Range: bytes=0-3\r\n' : ''}${i === plan.length - 1 ? 'Connection: close\r\n' : ''}\r\n`;
    });
    const { data, closed } = await rawRequest(port, bytes);
    const responses = parseResponses(
      data,
      plan.map(([method]) => method === 'HEAD'),
    );
    t.equal(responses.length, plan.length);
    plan.forEach(([method, target, status, body], i) => {
      t.equal(responses[i]?.status, status, `${i}: ${method} ${target}`);
      t.equal(responses[i]?.body.toString(), body, `${i}: body`);
    });
    t.ok(closed);
  });

  t.test('a GET with a Content-Length body, then a pipelined request', async (t) => {
    const { data } = await rawRequest(
      port,
      'GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 31\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const responses = parseResponses(data);
    t.same(
      responses.map((r) => r.status),
      [200, 200],
      'the body that looks like a request is not one',
    );
    t.equal(responses[1]?.body.toString(), DIGITS);
  });

  t.test('a chunked body, then a pipelined request', async (t) => {
    const { data } = await rawRequest(
      port,
      'GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const responses = parseResponses(data);
    t.same(
      responses.map((r) => r.status),
      [200, 200],
    );
    t.equal(responses[1]?.body.toString(), DIGITS);
  });

  t.test('a POST refused with 405 and its body, then a pipelined request', async (t) => {
    const { data } = await rawRequest(
      port,
      'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const responses = parseResponses(data);
    t.equal(responses[0]?.status, 405);
    if (responses[0]?.headers['connection'] === 'close') t.equal(responses.length, 1, 'closed after saying so');
    else t.equal(responses[1]?.body.toString(), DIGITS, 'the next request is answered');
  });

  t.test('a body read by a CGI program, then a pipelined request', async (t) => {
    const { data } = await rawRequest(
      port,
      'POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      { timeoutMs: 5000 },
    );
    const responses = parseResponses(data);
    t.equal(responses[0]?.status, 200);
    t.equal(responses[0]?.body.toString(), 'hello', 'the program echoed the body', {
      received: data.toString('latin1'),
    });
    t.equal(responses[1]?.body.toString(), HELLO);
  });

  t.test('the same pipeline sent one byte per write', async (t) => {
    const bytes =
      'GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcHEAD /digits.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const { data } = await rawRequest(port, bytes.split(''), { gapMs: 0, timeoutMs: 5000 });
    const responses = parseResponses(data, [false, true, false]);
    t.same(
      responses.map((r) => r.body.toString()),
      [HELLO, '', DIGITS],
    );
  });

  t.test('a 204 and a 304 carry neither body nor chunked framing', async (t) => {
    const { data } = await rawRequest(
      port,
      'OPTIONS /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const responses = parseResponses(data);
    t.equal(responses.length, 3);
    for (const r of responses.slice(0, 2)) {
      t.equal(r.headers['transfer-encoding'], undefined);
      t.equal(r.body.length, 0);
    }
    t.equal(responses[2]?.body.toString(), HELLO, 'the third answer starts right after the two heads');
  });
});
