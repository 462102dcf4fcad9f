// Timeouts with short limits: a head that never completes (408, then close),
// an idle persistent connection (closed silently), a body that stalls.

import t, { type Test } from 'tap';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseResponses,
  rawRequest,
  startPorta,
  tempDir,
  type ParsedResponse,
  type TestServer,
} from '../helpers/porta';

const CGI_FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cgi-bin');
const HELLO = 'Hello from porta.\n';
const TIMEOUT = 300;

async function server(t: Test): Promise<TestServer> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'hello.txt'), HELLO);
  mkdirSync(join(dir, 'cgi-bin'));
  cpSync(join(CGI_FIXTURES, 'echo.py'), join(dir, 'cgi-bin', 'echo.py'));
  const s = await startPorta(t, {
    root: dir,
    cgiStdout: 'pipe',
    cgiSpawn: 'child_process',
    limits: { headerTimeoutMs: TIMEOUT, bodyTimeoutMs: TIMEOUT, keepAliveTimeoutMs: TIMEOUT },
  });
  t.teardown(() => s.close());
  return s;
}

function responses(data: Buffer): ParsedResponse[] {
  try {
    return parseResponses(data);
  } catch {
    return [];
  }
}

/** rawRequest, timed. */
async function timed(
  port: number,
  pieces: string | string[],
  gapMs?: number,
  timeoutMs = 3000,
): Promise<{ data: Buffer; closed: boolean; ms: number }> {
  const start = performance.now();
  const result = await rawRequest(port, pieces, gapMs === undefined ? { timeoutMs } : { timeoutMs, gapMs });
  return { ...result, ms: performance.now() - start };
}

function check408(t: Test, data: Buffer, closed: boolean): void {
  const [r] = responses(data);
  t.equal(r?.statusLine, 'HTTP/1.1 408 Request Timeout');
  t.equal(r?.headers['connection'], 'close', 'Connection: close');
  t.ok(r?.headers['date'] !== undefined && r.headers['server'] !== undefined, 'Date and Server');
  t.equal(Number(r?.headers['content-length']), r?.body.length, 'framed');
  t.ok(closed, 'then the connection is closed');
}

t.test('timeouts', async (t) => {
  const s = await server(t);
  const port = s.port;

  t.test('a head that stops half-way gets 408 and a close', async (t) => {
    const { data, closed, ms } = await timed(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n');
    check408(t, data, closed);
    t.ok(ms >= TIMEOUT - 50 && ms < TIMEOUT + 1500, `after about the head timeout (${Math.round(ms)} ms)`);
  });

  t.test('a head dribbled a byte at a time (slowloris) still times out as a whole', async (t) => {
    const pieces = [
      'GET /hello.txt HTTP/1.1\r\n',
      ...'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'.split(''),
    ];
    const { data, closed, ms } = await timed(port, pieces, 50);
    check408(t, data, closed);
    t.ok(ms < TIMEOUT + 1500, `each byte did not restart the clock (${Math.round(ms)} ms)`);
  });

  t.test('a second request that stops half-way gets 408 after the first was answered', async (t) => {
    const { data, closed } = await timed(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\n');
    const list = responses(data);
    t.equal(list[0]?.status, 200);
    t.equal(list[1]?.statusLine, 'HTTP/1.1 408 Request Timeout');
    t.equal(list[1]?.headers['connection'], 'close');
    t.ok(closed);
  });

  t.test('an idle keep-alive connection is closed silently after the timeout', async (t) => {
    const { data, closed, ms } = await timed(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    const list = responses(data);
    t.equal(list.length, 1, 'only the answer');
    t.equal(list[0]?.body.toString(), HELLO);
    t.equal(list[0]?.headers['connection'], undefined, 'the answer did not announce a close');
    t.ok(closed, 'closed by the server');
    t.ok(ms >= TIMEOUT - 50 && ms < TIMEOUT + 1500, `after about the keep-alive timeout (${Math.round(ms)} ms)`);
  });

  t.test('a connection that never sends a byte is closed silently', async (t) => {
    const { data, closed } = await timed(port, []);
    t.equal(data.length, 0, 'no 408 to a client that never started a request (RFC 9112 §9.5)');
    t.ok(closed);
  });

  t.test('activity keeps a connection alive across several timeouts', async (t) => {
    const one = 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n';
    const { data } = await timed(
      port,
      [one, one, one, one, `GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      TIMEOUT / 2,
    );
    t.equal(responses(data).length, 5, 'every request answered on one connection');
  });

  t.test('a body that stalls before the program has it gets 408 and a close', async (t) => {
    const { data, closed, ms } = await timed(
      port,
      'POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
    );
    check408(t, data, closed);
    t.ok(ms < TIMEOUT + 1500, `${Math.round(ms)} ms`);
  });

  t.test('a chunked body that stalls mid-chunk gets 408 and a close', async (t) => {
    const { data, closed } = await timed(
      port,
      'POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
    );
    check408(t, data, closed);
  });

  t.test('a body arriving slowly but steadily is not cut off', async (t) => {
    const pieces = [
      'POST /cgi-bin/echo.py HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n',
      'ab',
      'cd',
      'ef',
    ];
    const { data } = await timed(port, pieces, TIMEOUT / 2);
    const [r] = responses(data);
    t.equal(r?.status, 200);
    t.equal(r?.body.toString(), 'abcdef');
  });

  // The answer went out before the body was read (a static file does not want it);
  // the rest of the body is read to be thrown away. When it stalls the connection
  // must still end: nothing more can be said (RFC 9112 §9.6), so it is just closed.
  t.test('a stalled body after the answer was sent: the connection is closed', async (t) => {
    for (const method of ['GET', 'POST']) {
      const { data, closed, ms } = await timed(
        port,
        `${method} /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc`,
        undefined,
        TIMEOUT * 6,
      );
      const list = responses(data);
      t.equal(list.length, 1, `${method}: one answer`);
      t.equal(list[0]?.status, method === 'GET' ? 200 : 405);
      t.ok(closed, `${method}: the server closed the stalled connection (${Math.round(ms)} ms)`);
    }
  });
});
