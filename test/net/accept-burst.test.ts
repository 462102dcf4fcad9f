// The addon's socket half (native/accept.c, src/net/native.ts): taking every
// waiting connection in one event-loop turn, and asking whether a client
// reset — against real loopback sockets.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { acceptInBursts } from '../../src/net/accept-burst';
import { loadNetAddon } from '../../src/net/native';
import { holdReading, socketFd } from '../../src/net/socket';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const addon = loadNetAddon();

t.test('the addon is built with its socket half (make test builds it)', async (t) => {
  t.type(addon?.acceptMany, 'function');
  t.type(addon?.socketReset, 'function');
});

async function listening(t: Test, server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/**
 * `count` connections completed by the kernel while this process's event loop
 * is blocked (spawnSync waits for a client that connects them all), then: how
 * many 'connection' events come in the first turn, before a setImmediate.
 */
async function firstTurn(t: Test, bursts: boolean, count: number): Promise<{ first: number; total: number }> {
  const server = createServer({ allowHalfOpen: true });
  const sockets: Socket[] = [];
  server.prependListener('connection', (socket: Socket) => {
    socket.on('error', () => undefined);
    sockets.push(socket);
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  if (bursts && addon !== null) acceptInBursts(server, addon.acceptMany);
  const port = await listening(t, server);
  const client = `
    const net = require('node:net'); let open = 0;
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect(${port}, '127.0.0.1', () => { if (++open === ${count}) process.exit(0); });
      s.on('error', () => process.exit(1));
    }`;
  const run = spawnSync(process.execPath, ['-e', client], { timeout: 10_000 });
  t.equal(run.status, 0, `a client connected ${count} times while this loop was blocked`);
  // From the turn the first connection comes in, to the end of that turn (its check phase).
  const first = await new Promise<number>((resolve) => {
    server.once('connection', () => setImmediate(() => resolve(sockets.length)));
  });
  const all = await new Promise<number>((resolve) => {
    const check = (): void => {
      if (sockets.length >= count) resolve(sockets.length);
      else setTimeout(check, 10);
    };
    check();
  });
  return { first, total: all };
}

t.test('Node alone accepts one connection a turn (why the burst exists)', async (t) => {
  const { first, total } = await firstTurn(t, false, 20);
  t.equal(first, 1, 'one in the first turn');
  t.equal(total, 20, 'the rest on later turns');
});

t.test('with acceptInBursts every waiting connection comes in the first turn', async (t) => {
  const { first, total } = await firstTurn(t, true, 20);
  t.equal(first, 20, 'all 20 in one turn');
  t.equal(total, 20, 'each once');
});

t.test('a burst is bounded, and what it leaves comes on the next turns', async (t) => {
  const { first, total } = await firstTurn(t, true, 80);
  t.equal(first, 65, "Node's one and 64 more");
  t.equal(total, 80, 'each once');
});

t.test('connections from a burst are ordinary sockets: data both ways, addresses', async (t) => {
  const server = createServer({ allowHalfOpen: true });
  if (addon !== null) acceptInBursts(server, addon.acceptMany);
  const seen: string[] = [];
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => undefined);
    seen.push(`${socket.remoteAddress}`);
    socket.once('data', (d: Buffer) => socket.end(`echo ${d.toString()}`));
  });
  const port = await listening(t, server);
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => {
      return new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const c = connect(port, '127.0.0.1', () => c.write(`hello ${i}`));
        c.on('data', (d: Buffer) => chunks.push(d));
        c.on('end', () => resolve(Buffer.concat(chunks).toString()));
        c.on('error', () => resolve('error'));
      });
    }),
  );
  t.same(
    answers,
    Array.from({ length: 10 }, (_, i) => `echo hello ${i}`),
    'every client its own answer',
  );
  t.ok(
    seen.every((a) => a === '127.0.0.1'),
    'remoteAddress read',
  );
});

async function pair(t: Test): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer({ allowHalfOpen: true });
  const port = await listening(t, listener);
  const client = connect(port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  await once(client, 'connect');
  for (const s of [server, client]) s.on('error', () => undefined);
  // As the connection while a handler works: Node reads nothing, so it sees no reset itself.
  holdReading(server);
  t.teardown(() => {
    server.destroy();
    client.destroy();
  });
  return { server, client };
}

t.test('socketReset: a live client, a half-closed one, a reset one', async (t) => {
  const live = await pair(t);
  t.equal(addon?.socketReset(socketFd(live.server) ?? -1), false, 'connected: there');
  live.client.end(); // FIN after the request: RFC 9112 §9.6, the answer is still wanted
  await sleep(50);
  t.equal(addon?.socketReset(socketFd(live.server) ?? -1), false, 'half-closed: still there');
  const gone = await pair(t);
  gone.client.resetAndDestroy();
  await sleep(50);
  t.equal(addon?.socketReset(socketFd(gone.server) ?? -1), true, 'reset: gone');
  const taken = await pair(t);
  taken.client.resetAndDestroy();
  await sleep(50);
  const fd = socketFd(taken.server) ?? -1;
  // A write straight to the fd (Node would destroy the socket) meets the reset: its error clears SO_ERROR.
  t.throws(() => writeSync(fd, 'a write meets the reset first'), 'the write fails');
  t.equal(addon?.socketReset(fd), true, 'reset, its error already taken: gone');
});
