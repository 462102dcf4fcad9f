// What an idle keep-alive connection holds, and that what it lets go of is
// taken up again correctly: no llhttp parser between requests (the next byte
// gets a fresh one), pipelined and split requests after the pause served as
// before, and CR/LF ahead of a request line still skipped (RFC 9112 §2.2);
// no second copy of its addresses on the socket.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { queryObjects } from 'node:v8';
import { NativeParser } from '../../src/http/parser/native';
import { WasmParser } from '../../src/http/parser/wasm';
import { Collector, openSocket, parseResponses, sleep, startPorta, tempDir } from '../helpers/porta';

const CONNECTIONS = 20;
const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/** Live instances of a class (queryObjects collects garbage first). */
function live(ctor: abstract new (...args: never[]) => unknown): number {
  return queryObjects(ctor as unknown as new () => unknown, { format: 'count' });
}

async function answered(collector: Collector, count: number): Promise<boolean> {
  return collector.waitFor(() => parseResponses(collector.data).length >= count);
}

for (const parser of ['wasm', 'native'] as const) {
  t.test(`${parser}: idle keep-alive connections hold no parser, and take one up again`, async (t) => {
    const { dir, remove } = tempDir();
    t.teardown(remove);
    for (const name of ['a', 'b', 'c']) writeFileSync(join(dir, `${name}.txt`), `${name}\n`);
    const server = await startPorta(t, { root: dir, parser });
    const sockets: Socket[] = [];
    const collectors: Collector[] = [];
    t.teardown(() => {
      for (const socket of sockets) socket.destroy();
    });
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = await openSocket(server.port);
      sockets.push(socket);
      collectors.push(new Collector(socket));
      socket.write(GET('/a.txt'));
    }
    for (const collector of collectors) t.ok(await answered(collector, 1), 'the first answer');
    t.equal(server.porta.connections.size, CONNECTIONS, 'every connection is open and idle');
    t.equal(live(WasmParser) + live(NativeParser), 0, 'no parser is held by an idle connection');
    for (const connection of server.porta.connections) {
      // net.Socket's own copies of the two addresses (the Peer has them): not made (net/socket.ts).
      const socket = connection.socket as { _peername?: unknown; _sockname?: unknown };
      t.same([socket._peername, socket._sockname], [undefined, undefined], "Node's address cache is left empty");
      if (!t.passing()) break;
    }

    // After the pause: one request split across two reads (the first lands on an idle connection)…
    const first = sockets[0] as Socket;
    first.write('GET /b.txt HT');
    await sleep(20);
    first.write('TP/1.1\r\nHost: x\r\n\r\n');
    // …two pipelined in one write, with an empty line before the first (skipped, RFC 9112 §2.2)…
    (sockets[1] as Socket).write(`\r\n${GET('/b.txt')}${GET('/c.txt')}`);
    // …and an empty line alone, then a request.
    const third = sockets[2] as Socket;
    third.write('\r\n');
    await sleep(20);
    third.write(GET('/c.txt'));
    t.ok(await answered(collectors[0] as Collector, 2), 'the split request is answered');
    t.ok(await answered(collectors[1] as Collector, 3), 'both pipelined requests are answered');
    t.ok(await answered(collectors[2] as Collector, 2), 'the request after an empty line is answered');
    const bodies = (i: number): string[] =>
      parseResponses((collectors[i] as Collector).data).map((r) => `${r.status} ${r.body.toString()}`);
    t.same(bodies(0), ['200 a\n', '200 b\n']);
    t.same(bodies(1), ['200 a\n', '200 b\n', '200 c\n']);
    t.same(bodies(2), ['200 a\n', '200 c\n']);
    t.equal(live(WasmParser) + live(NativeParser), 0, 'and none is held once they are idle again');

    // A request that is still arriving holds its parser; a bad one is still refused.
    first.write('GET /c.txt HTTP/1.1\r\n');
    await sleep(20);
    t.equal(live(parser === 'wasm' ? WasmParser : NativeParser), 1, 'a head in progress holds one');
    first.write('Host: x\r\nHost: y\r\n\r\n');
    t.ok(await answered(collectors[0] as Collector, 3));
    t.equal(parseResponses((collectors[0] as Collector).data)[2]?.status, 400, 'two Host fields: 400');
  });
}
