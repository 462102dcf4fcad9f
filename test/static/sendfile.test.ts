// Large static files by sendfile(2) (src/static/body.ts, native/porta_spawn.c),
// over raw sockets: 10 MiB byte-exact on a kept-alive connection, a range,
// HEAD, slow readers with a tiny SO_RCVBUF (python3 clients, out of process)
// that cost porta no buffers, clients that reset mid-file beside victims that
// check every byte, the send timeout, TLS (streamed: porta must encrypt), the
// streaming fallback (--no-sendfile), and not one fd left behind.

import t, { type Test } from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseCommandLine } from '../../src/cli/args';
import { loadSendfile } from '../../src/static/sendfile';
import { type SettingsOverride, sleep, startPorta, type TestServer, tempDir } from '../helpers/porta';

const SIZE = 10 * 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A keep-alive client over one socket: requests out, responses (Content-Length framed) in. */
class Wire {
  #data = Buffer.alloc(1 << 20);
  #length = 0;
  #pos = 0;
  closed = false;
  readonly #wakers: Array<() => void> = [];

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      if (this.#length + d.length > this.#data.length) {
        const bigger = Buffer.alloc(Math.max(this.#data.length * 2, this.#length + d.length));
        this.#data.copy(bigger, 0, 0, this.#length);
        this.#data = bigger;
      }
      d.copy(this.#data, this.#length);
      this.#length += d.length;
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  /** Bytes received in all (heads included). */
  get received(): number {
    return this.#length;
  }

  #wake(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  async #until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.closed || Date.now() >= end) return condition();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.#wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  waitBytes(n: number, timeoutMs = 10_000): Promise<boolean> {
    return this.#until(() => this.#length >= n, timeoutMs);
  }

  waitClose(timeoutMs = 10_000): Promise<boolean> {
    return this.#until(() => this.closed, timeoutMs);
  }

  /** The next response: its status, fields and body (none for HEAD). */
  async response(
    head = false,
    timeoutMs = 20_000,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const headEnd = (): number => this.#data.subarray(0, this.#length).indexOf('\r\n\r\n', this.#pos);
    if (!(await this.#until(() => headEnd() >= 0, timeoutMs))) throw new Error('no response head');
    const end = headEnd();
    const lines = this.#data.toString('latin1', this.#pos, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = head ? 0 : Number(headers['content-length'] ?? 0);
    const start = end + 4;
    await this.#until(() => this.#length >= start + length, timeoutMs);
    const body = Buffer.from(this.#data.subarray(start, Math.min(this.#length, start + length)));
    this.#pos = start + body.length;
    return { status: Number(lines[0]?.split(' ')[1]), headers, body };
  }
}

function open(port: number): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => resolve(new Wire(socket)));
    socket.once('error', reject);
  });
}

const get = (target: string, extra = '', method = 'GET'): string =>
  `${method} ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Until `condition` holds or `timeoutMs` passes; whether it held. */
async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= end) return false;
    await sleep(50);
  }
  return true;
}

/** A python3 client with an 8 KiB SO_RCVBUF that reads 16 KiB at a time, pausing between reads. */
const SLOW_READER = `
import hashlib, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(('GET %s HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' % sys.argv[2]).encode())
data = bytearray()
while True:
    chunk = s.recv(16384)
    if not chunk:
        break
    data += chunk
    time.sleep(0.002)
head, _, body = bytes(data).partition(b'\\r\\n\\r\\n')
print(head.split(b'\\r\\n')[0].decode(), len(body), hashlib.sha256(body).hexdigest())
`;

function slowReader(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', SLOW_READER, String(port), target]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`python3 exited ${code}: ${err}`)),
    );
  });
}

/** N slow readers of `target` at once; porta's (this process's) memory sampled meanwhile. */
async function slowReaders(
  port: number,
  target: string,
  n: number,
): Promise<{ lines: string[]; rssGrowth: number; buffersGrowth: number }> {
  const before = process.memoryUsage();
  let rss = 0;
  let buffers = 0;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss - before.rss);
    buffers = Math.max(buffers, now.arrayBuffers - before.arrayBuffers);
  }, 20);
  try {
    const lines = await Promise.all(Array.from({ length: n }, () => slowReader(port, target)));
    return { lines, rssGrowth: rss, buffersGrowth: buffers };
  } finally {
    clearInterval(sampler);
  }
}

t.test('sendfile', async (t) => {
  const loaded = loadSendfile();
  t.equal(loaded.reason, null, 'the addon is built with its sendfile functions (make build)');

  const { dir, remove } = tempDir();
  t.teardown(remove);
  const big = randomBytes(SIZE);
  writeFileSync(join(dir, 'big.bin'), big);
  writeFileSync(join(dir, 'small.txt'), 'small\n');
  const bigSha = sha(big);
  const start = (t: Test, override: SettingsOverride = {}): Promise<TestServer> =>
    startPorta(t, { root: dir, quiet: false, ...override });

  t.test('10 MiB byte-exact, then the connection is kept and answers again', async (t) => {
    const s = await start(t);
    const wire = await open(s.port);
    wire.socket.write(get('/big.bin'));
    const first = await wire.response();
    t.equal(first.status, 200);
    t.equal(first.headers['content-length'], String(SIZE));
    t.equal(first.body.length, SIZE);
    t.equal(sha(first.body), bigSha, 'every byte');
    wire.socket.write(get('/small.txt') + get('/big.bin'));
    const small = await wire.response();
    t.equal(small.body.toString(), 'small\n', 'the same connection answers the next request');
    const again = await wire.response();
    t.equal(sha(again.body), bigSha, 'and a pipelined second 10 MiB, byte-exact');
    t.notOk(wire.closed, 'kept alive');
    wire.socket.destroy();
    t.match(s.logs(), /"GET \/big\.bin HTTP\/1\.1" 200 10485760 /, 'the access log counts the bytes sendfile sent');
  });

  t.test('a range (206) and HEAD', async (t) => {
    const s = await start(t);
    const wire = await open(s.port);
    wire.socket.write(get('/big.bin', 'Range: bytes=1000-2000999\r\n'));
    const range = await wire.response();
    t.equal(range.status, 206);
    t.equal(range.headers['content-range'], `bytes 1000-2000999/${SIZE}`);
    t.equal(sha(range.body), sha(big.subarray(1000, 2001000)), 'the range, byte-exact');
    wire.socket.write(get('/big.bin', `Range: bytes=${SIZE - 300_001}-\r\n`));
    const tail = await wire.response();
    t.equal(tail.status, 206);
    t.ok(tail.body.equals(big.subarray(SIZE - 300_001)), 'an open range to the end, byte-exact');
    wire.socket.write(get('/big.bin', '', 'HEAD') + get('/small.txt'));
    const head = await wire.response(true);
    t.equal(head.status, 200);
    t.equal(head.headers['content-length'], String(SIZE));
    const after = await wire.response();
    t.equal(after.body.toString(), 'small\n', 'HEAD sent no body: the next response follows its head at once');
    wire.socket.destroy();
    t.match(s.logs(), /" 206 2000000 /);
    t.match(s.logs(), /"HEAD \/big\.bin HTTP\/1\.1" 200 - /);
  });

  t.test('slow readers (8 KiB SO_RCVBUF) get every byte and cost porta no buffers', async (t) => {
    // The send timeout is shorter than each transfer: a reader that keeps taking bytes is never cut.
    const s = await start(t, { limits: { sendTimeoutMs: 1000 } });
    const { lines, rssGrowth, buffersGrowth } = await slowReaders(s.port, '/big.bin', 8);
    for (const line of lines) t.equal(line, `HTTP/1.1 200 OK ${SIZE} ${bigSha}`);
    t.ok(
      buffersGrowth < 2 * 1024 * 1024,
      `porta held no file bytes in JS buffers for 8 slow readers (${(buffersGrowth / 1048576).toFixed(2)} MiB)`,
    );
    t.ok(rssGrowth < 48 * 1024 * 1024, `RSS stayed bounded (grew ${(rssGrowth / 1048576).toFixed(1)} MiB)`);
    const streamed = await start(t, { sendfile: false });
    const contrast = await slowReaders(streamed.port, '/big.bin', 8);
    t.ok(
      contrast.buffersGrowth > 1024 * 1024,
      `while the streaming path holds file bytes for them (${(contrast.buffersGrowth / 1048576).toFixed(2)} MiB)`,
    );
    t.notMatch(s.logs(), /send timeout|aborted/);
  });

  t.test('clients that reset mid-file beside victims: no crash, no cross-talk, no fd left', async (t) => {
    const s = await start(t);
    const baseline = openFds();
    let running = true;
    let resets = 0;
    const attacker = async (pauseFirst: boolean): Promise<void> => {
      while (running) {
        const wire = await open(s.port);
        if (pauseFirst) wire.socket.pause(); // porta then waits for room: the reset finds it in poll()
        wire.socket.write(get('/big.bin'));
        if (pauseFirst) await sleep(20 + Math.random() * 60);
        else await wire.waitBytes(Math.floor(Math.random() * 3 * 1024 * 1024), 5000);
        wire.socket.resetAndDestroy();
        resets++;
        await sleep(Math.random() * 10);
      }
    };
    const victim = async (): Promise<string[]> => {
      const wire = await open(s.port);
      const sums: string[] = [];
      for (let i = 0; i < 4; i++) {
        wire.socket.write(get(i % 2 === 0 ? '/big.bin' : '/small.txt'));
        const r = await wire.response();
        sums.push(i % 2 === 0 ? sha(r.body) : r.body.toString());
      }
      wire.socket.destroy();
      return sums;
    };
    const attackers = [attacker(false), attacker(true), attacker(false), attacker(true)];
    const victims = await Promise.all([victim(), victim(), victim(), victim()]);
    running = false;
    await Promise.all(attackers);
    for (const sums of victims) t.same(sums, [bigSha, 'small\n', bigSha, 'small\n'], 'a victim got every byte');
    t.ok(resets >= 4, `${resets} clients reset mid-file`);
    const after = await open(s.port);
    after.socket.write(get('/big.bin'));
    t.equal(sha((await after.response()).body), bigSha, 'porta serves on');
    after.socket.destroy();
    t.match(s.logs(), /the client left \((ECONNRESET|EPIPE)\)/, 'a reset is a logged end of that exchange');
    t.notMatch(s.logs(), /internal error/);
    t.ok(
      await eventually(() => openFds() <= baseline),
      `every fd porta opened (sockets, files, dups) is closed: ${openFds()} open, ${baseline} before`,
    );
  });

  t.test('a client that stops reading is cut after the send timeout', async (t) => {
    const s = await start(t, { limits: { sendTimeoutMs: 1000, lingerMs: 500 } });
    const baseline = openFds();
    const wire = await open(s.port);
    wire.socket.pause();
    wire.socket.write(get('/big.bin'));
    t.ok(await eventually(() => /send timeout/.test(s.logs()), 5000), 'porta gives up after --send-timeout');
    wire.socket.resume();
    t.ok(await wire.waitClose(5000), 'and closes the connection');
    t.ok(wire.received < SIZE, `the client saw the truncation (${wire.received} bytes of ${SIZE})`);
    t.match(s.logs(), /"GET \/big\.bin HTTP\/1\.1" 200 \d+ /, 'logged with the bytes that went out');
    t.ok(await eventually(() => openFds() <= baseline), 'no fd left behind');
  });

  t.test('porta closing with a transfer in flight cuts it cleanly at the end of the grace', async (t) => {
    const s = await start(t);
    const baseline = openFds();
    const wire = await open(s.port);
    wire.socket.pause();
    wire.socket.write(get('/big.bin'));
    await sleep(100);
    await s.porta.close(300);
    wire.socket.resume();
    t.ok(await wire.waitClose(5000), 'the client is cut');
    t.ok(wire.received < SIZE);
    t.ok(await eventually(() => openFds() <= baseline - 1), 'the listener, the socket and every dup closed');
  });

  t.test('--no-sendfile: the streaming path, byte-exact', async (t) => {
    const cli = parseCommandLine(['--no-sendfile']);
    t.equal(cli.kind === 'serve' && cli.settings.sendfile, false, '--no-sendfile turns it off');
    const plain = parseCommandLine([]);
    t.equal(plain.kind === 'serve' && plain.settings.sendfile, true, 'on by default');
    const s = await start(t, { sendfile: false });
    const wire = await open(s.port);
    wire.socket.write(get('/big.bin') + get('/big.bin', 'Range: bytes=5-1000004\r\n'));
    t.equal(sha((await wire.response()).body), bigSha);
    t.equal(sha((await wire.response()).body), sha(big.subarray(5, 1000005)));
    wire.socket.destroy();
  });

  t.test('TLS streams (porta must encrypt): 10 MiB byte-exact over HTTPS', async (t) => {
    if (spawnSync('sh', ['-c', 'command -v openssl']).status !== 0) {
      t.fail('openssl is needed (make test-deps installs it from Debian)');
      return;
    }
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=x'],
      { stdio: 'ignore' },
    );
    const s = await start(t, { tls: { cert, key, passwordFile: null } });
    const socket = await new Promise<Socket>((resolve, reject) => {
      const c = tlsConnect({ port: s.port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(c));
      c.once('error', reject);
    });
    const wire = new Wire(socket);
    socket.write(get('/big.bin') + get('/big.bin', 'Range: bytes=7-700006\r\n'));
    t.equal(sha((await wire.response()).body), bigSha, 'decrypted, every byte');
    t.equal(sha((await wire.response()).body), sha(big.subarray(7, 700007)), 'and a range');
    socket.destroy();
  });
});
