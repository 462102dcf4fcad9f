// A socket lent to a program (socket mode: the socket is its stdout) is not
// read by porta until the program is done. The program's stdout must be
// blocking, and that flag is on the file description porta shares: a read
// by porta's event loop that found nothing would wait for the client, and
// every other connection with it. Found by the chaos run (seed 3629639810):
// the socket server stopped for 10 s, blocked in read(2) on a socket whose
// program had started a millisecond before. Net.Socket's pause() does not
// stop libuv reading; porta stops the handle itself (net/socket.ts).
//
// What is checked from outside, with the kernel's own count: bytes the client
// sends while its program runs stay in the socket's receive queue
// (/proc/net/tcp rx_queue) until the program exits; another client is served
// meanwhile; the lent connection still gets its whole answer and a FIN.

import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { rawRequest, startPorta, tempDir } from '../helpers/porta';

/** The receive queue of the server's end of a loopback connection (IPv4), or null if not found. */
function serverRxQueue(serverPort: number, clientPort: number): number | null {
  const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const remote = fields[2];
    const queues = fields[4];
    if (local === undefined || remote === undefined || queues === undefined) continue;
    if (local.endsWith(`:${hexPort(serverPort)}`) && remote.endsWith(`:${hexPort(clientPort)}`)) {
      return Number.parseInt(queues.split(':')[1] as string, 16);
    }
  }
  return null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('porta reads nothing of a socket lent to a program until the program is done', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'));
  writeFileSync(
    join(dir, 'cgi-bin', 'slow.sh'),
    "#!/bin/sh\nsleep 0.8\nprintf 'Content-Type: text/plain\\n\\nslow done\\n'\n",
    {
      mode: 0o755,
    },
  );
  writeFileSync(join(dir, 'x.txt'), 'x\n');
  const server = await startPorta(t, { root: dir, cgiStdout: 'socket' });

  const client: Socket = connect(server.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((resolve) => {
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.on('close', () => resolve());
    client.on('error', () => resolve());
  });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  client.write('GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(250); // porta's head is out and the program runs (it sleeps 0.8 s)
  const extra = Buffer.alloc(70_000, 0x61); // more than libuv's 64 KiB read, as the chaos client's bodies were
  client.write(extra);
  await sleep(150);
  const queued = serverRxQueue(server.port, client.localPort as number);
  t.equal(queued, extra.length, 'what the client sent meanwhile is still in the kernel, unread by porta');

  const started = performance.now();
  const { data } = await rawRequest(server.port, 'GET /x.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
    timeoutMs: 5000,
  });
  t.match(data.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nx\n$/, 'another client is served meanwhile');
  t.ok(performance.now() - started < 400, 'at once, not after the program');

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
  clearTimeout(timer);
  const answer = Buffer.concat(chunks).toString('latin1');
  t.match(
    answer,
    /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\nContent-Type: text\/plain\n\nslow done\n$/,
    'the whole answer',
  );
  t.ok(client.destroyed || client.readableEnded, 'then the connection closed');
  client.destroy();
});
