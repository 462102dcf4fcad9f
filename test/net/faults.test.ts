// Regression tests, in raw bytes over real sockets, for the four faults found
// when porta was first tried under clients that give up at random moments
// (issue 7): a reset during a file crashed the process; a reset during a CGI
// spawn let one client's program write into another client's connection; a
// half-closed client got nothing; a program's extra output split the
// response stream. And one found later: a client leaving mid-upload while its
// CGI body was being spooled to a temp file crashed the process. The server
// runs in this process: an exception escaping any callback fails the whole
// test file.

import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { CgiStdoutMode } from '../../src/config';
import { parseResponses, rawRequest, sleep, startPorta, tempDir, type TestServer } from '../helpers/porta';

const SMALL = Buffer.from('exactly these bytes, nothing else\n');
const LARGE = randomBytes(3 * 1024 * 1024);

function script(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, 'cgi-bin', name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, 'cgi-bin', name), 0o755);
}

async function site(t: Test, mode: CgiStdoutMode): Promise<TestServer> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'small.txt'), SMALL);
  writeFileSync(join(dir, 'large.bin'), LARGE);
  mkdirSync(join(dir, 'cgi-bin'));
  chmodSync(join(dir, 'cgi-bin'), 0o755);
  script(dir, 'hello.sh', "printf 'Content-Type: text/plain\\n\\nhello\\n'");
  script(
    dir,
    'big.sh',
    `printf 'Content-Type: application/octet-stream\\n\\n'; head -c 3145728 ${join(dir, 'large.bin')}`,
  );
  script(
    dir,
    'liar.sh',
    "printf 'Content-Type: text/plain\\nContent-Length: 5\\n\\nhelloHTTP/1.1 200 OK\\r\\nContent-Length: 8\\r\\n\\r\\ninjected'",
  );
  script(
    dir,
    'two-lengths.sh',
    "printf 'Content-Type: text/plain\\nContent-Length: 5\\nContent-Length: 6\\n\\nhello!'",
  );
  script(dir, 'short.sh', "printf 'Content-Type: text/plain\\nContent-Length: 100\\n\\nonly this'");
  script(dir, 'killed.sh', "printf 'Content-Type: text/plain\\n\\npartial'; kill -9 $$");
  return startPorta(t, { root: dir, cgiStdout: mode, limits: { cgiTimeoutMs: 5000 } });
}

/** Connect, send `bytes`, and reset (RST: SO_LINGER 0) after `delayMs`. */
function sendAndReset(port: number, bytes: string, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      setTimeout(() => socket.resetAndDestroy(), delayMs);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

/** Aborters and byte-checking victims side by side for `ms`; the victims' wrong answers. */
/** The victims' answers a storm waits for before it may end. */
const ENOUGH_VICTIMS = 60;

async function storm(
  port: number,
  abortTarget: string,
  maxDelayMs: number,
  ms: number,
): Promise<{ checked: number; wrong: string[] }> {
  // At least `ms`, and on past it (up to 4×) until enough victims were checked:
  // a slow or busy machine makes fewer answers in the same time, not a weaker test.
  const end = Date.now() + ms;
  const hardEnd = Date.now() + 4 * ms;
  const wrong: string[] = [];
  let checked = 0;
  const going = () => Date.now() < end || (checked < ENOUGH_VICTIMS && Date.now() < hardEnd);
  const expected = SMALL.toString('latin1');
  const aborter = async () => {
    while (going()) {
      await sendAndReset(port, `GET ${abortTarget} HTTP/1.1\r\nHost: x\r\n\r\n`, Math.random() * maxDelayMs);
    }
  };
  const victim = async () => {
    while (going()) {
      const { data } = await rawRequest(port, 'GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
        timeoutMs: 5000,
      });
      checked++;
      const text = data.toString('latin1');
      if (!text.startsWith('HTTP/1.1 200 OK\r\n') || !text.endsWith(`\r\n\r\n${expected}`)) {
        wrong.push(JSON.stringify(text.slice(0, 120)));
      }
    }
  };
  await Promise.all([...Array.from({ length: 6 }, aborter), ...Array.from({ length: 6 }, victim)]);
  return { checked, wrong };
}

t.test('finding 1: clients that reset during a large file never crash porta', async (t) => {
  const s = await site(t, 'socket');
  const { checked, wrong } = await storm(s.port, '/large.bin', 10, 2500);
  t.ok(checked > 50, `${checked} victim answers checked`);
  t.same(wrong, [], 'every victim byte right');
  const after = parseResponses(
    (await rawRequest(s.port, 'GET /large.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).data,
  )[0];
  t.ok(after?.body.equals(LARGE), 'and the large file is still served whole');
});

for (const mode of ['socket', 'pipe'] as const) {
  t.test(
    `finding 2: clients that reset during a CGI spawn never get (or cause) crossed output (${mode} mode)`,
    async (t) => {
      const s = await site(t, mode);
      const { checked, wrong } = await storm(s.port, '/cgi-bin/hello.sh', 4, 3000);
      t.ok(checked > 50, `${checked} victim answers checked`);
      t.same(wrong, [], "no victim ever sees a program's output");
      t.notMatch(s.logs(), /Bad file descriptor|cannot start/, 'no spawn ever used a stale fd');
      t.notMatch(s.logs(), /^hello$/m, "no program's stdout in porta's log");
    },
  );
}

/** Send `request`, then FIN (shutdown(SHUT_WR)), and read to the end. */
function halfClosed(port: number, request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket: Socket = connect(port, '127.0.0.1', () => socket.end(request));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.setTimeout(8000, () => socket.destroy());
  });
}

for (const mode of ['socket', 'pipe'] as const) {
  t.test(`finding 3: a half-closed client gets its whole answer, then the close (${mode} mode)`, async (t) => {
    const s = await site(t, mode);
    const small = parseResponses(await halfClosed(s.port, 'GET /small.txt HTTP/1.0\r\n\r\n'))[0];
    t.ok(small?.body.equals(SMALL), 'a small file');
    const large = parseResponses(await halfClosed(s.port, 'GET /large.bin HTTP/1.0\r\n\r\n'))[0];
    t.ok(large?.body.equals(LARGE), 'a streamed large file, every byte');
    const hello = (await halfClosed(s.port, 'GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n')).toString('latin1');
    t.match(hello, /^HTTP\/1\.1 200 OK\r\n/, 'a CGI answer');
    t.ok(
      hello.endsWith('\n\nhello\n') || hello.endsWith('\r\n\r\nhello\n'),
      `with the program's body: ${JSON.stringify(hello.slice(-40))}`,
    );
    const big = await halfClosed(s.port, 'GET /cgi-bin/big.sh HTTP/1.0\r\n\r\n');
    t.ok(big.subarray(big.length - LARGE.length).equals(LARGE), 'a large CGI answer, every byte');
    const pipelined = parseResponses(
      await halfClosed(s.port, 'GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    t.equal(pipelined.length, 2, 'complete requests sent before the FIN are all answered');
    const cut = await halfClosed(s.port, 'GET /small.txt HTTP/1.1\r\nHost:');
    t.equal(cut.length, 0, 'a FIN in the middle of a head is just a close');
  });
}

t.test('finding 4: a program never frames more than it declares (pipe mode)', async (t) => {
  const s = await site(t, 'pipe');
  const { data, closed } = await rawRequest(
    s.port,
    'GET /cgi-bin/liar.sh HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    { timeoutMs: 5000 },
  );
  const text = data.toString('latin1');
  t.ok(text.endsWith('Content-Length: 5\r\n\r\nhello'), 'exactly the declared 5 bytes');
  t.notMatch(text, /injected/, "the program's extra bytes never reach the client");
  t.ok(closed, 'the connection closes after that answer');
  t.match(s.logs(), /longer than its Content-Length 5/, 'and the overflow is logged');

  const two = parseResponses(
    (await rawRequest(s.port, 'GET /cgi-bin/two-lengths.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).data,
  )[0];
  t.equal(two?.status, 502, 'two different Content-Length lines: 502');

  const short = await rawRequest(s.port, 'GET /cgi-bin/short.sh HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 });
  t.ok(
    short.data.toString('latin1').endsWith('Content-Length: 100\r\n\r\nonly this'),
    'shorter than declared: what came',
  );
  t.ok(short.closed, 'then the close, so the client sees the truncation');

  const killed = await rawRequest(s.port, 'GET /cgi-bin/killed.sh HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 });
  const killedText = killed.data.toString('latin1');
  t.match(killedText, /Transfer-Encoding: chunked\r\n/);
  t.ok(killedText.endsWith('7\r\npartial\r\n'), 'the body so far');
  t.notMatch(killedText, /0\r\n\r\n$/, 'a program killed mid-body: no terminating chunk');
  t.ok(killed.closed);
  await sleep(50);
});

t.test('finding 5: clients that leave mid-upload while their CGI body spools to disk never crash porta', async (t) => {
  // This process's temp folder, to see that no spooled body is left behind.
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const savedTmp = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp.dir;
  t.teardown(() => {
    if (savedTmp === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmp;
  });
  for (const mode of ['socket', 'pipe'] as const) {
    const { dir, remove } = tempDir();
    t.teardown(remove);
    writeFileSync(join(dir, 'small.txt'), SMALL);
    mkdirSync(join(dir, 'cgi-bin'));
    chmodSync(join(dir, 'cgi-bin'), 0o755);
    script(dir, 'count.sh', "printf 'Content-Type: text/plain\\n\\n'; wc -c");
    // Bodies past 64 KiB go to a temp file (socket mode spools every body; pipe mode chunked ones).
    const s = await startPorta(t, { root: dir, cgiStdout: mode, limits: { cgiBodyMemory: 64 * 1024 } });
    const part = Buffer.alloc(1024 * 1024, 0x61);
    const framing = mode === 'socket' ? 'Content-Length: 5000000\r\n' : 'Transfer-Encoding: chunked\r\n';
    const upload = mode === 'socket' ? part : Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part]);
    const leave = () =>
      new Promise<void>((resolve) => {
        const socket = connect(s.port, '127.0.0.1', () => {
          socket.write(`POST /cgi-bin/count.sh HTTP/1.1\r\nHost: x\r\n${framing}\r\n`);
          socket.write(upload);
          setTimeout(() => (Math.random() < 0.5 ? socket.resetAndDestroy() : socket.destroy()), Math.random() * 15);
        });
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
      });
    let wrong = 0;
    let checked = 0;
    let leaving = true;
    const victim = async () => {
      while (leaving) {
        const { data } = await rawRequest(s.port, 'GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        checked++;
        if (!data.toString('latin1').endsWith(`\r\n\r\n${SMALL.toString('latin1')}`)) wrong++;
      }
    };
    const victims = Promise.all([victim(), victim()]);
    for (let round = 0; round < 15; round++) await Promise.all([leave(), leave(), leave(), leave()]);
    leaving = false;
    await victims;
    t.equal(wrong, 0, `${mode} mode: ${checked} victim answers, every byte right`);
    // A whole spooled upload still reaches its program.
    const body = Buffer.alloc(300 * 1024, 0x62);
    const whole = parseResponses(
      (
        await rawRequest(s.port, [
          `POST /cgi-bin/count.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n`,
          Buffer.concat([body, Buffer.from('\r\n0\r\n\r\n')]).toString('latin1'),
        ])
      ).data,
    )[0];
    t.equal(whole?.body.toString().trim(), String(body.length), `${mode} mode: a whole upload after the storm`);
    await s.close();
  }
  await sleep(100);
  t.same(
    readdirSync(tmp.dir).filter((name) => name.startsWith('porta-body-')),
    [],
    'no spooled body left in the temp folder',
  );
});
