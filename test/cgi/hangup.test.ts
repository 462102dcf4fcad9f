// Socket mode's watch for a client's reset (native/watch.c watchHangup),
// against the addon itself with real loopback sockets: a reset is reported
// whether its error is still pending or was already taken by a write (the
// program's first write meets the reset and gets EPIPE, which clears the
// socket's error: regression, a reviewer's storm missed 5 resets in 60 that
// way and the programs ran on to their timeout); a FIN alone is not reported.

import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { loadNativeLauncher } from '../../src/cgi/launch-native';
import { socketFd } from '../../src/net/socket';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function pair(t: Test): Promise<{ server: Socket; client: Socket }> {
  // As porta's listener: a client's FIN does not make Node end our side too.
  const listener = createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const address = listener.address();
  const client = connect(typeof address === 'object' && address !== null ? address.port : 0, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  await once(client, 'connect');
  for (const s of [server, client]) s.on('error', () => undefined);
  t.teardown(() => {
    server.destroy();
    client.destroy();
  });
  return { server, client };
}

const { addon, reason } = loadNativeLauncher();

t.test('the addon is built (make test builds it)', async (t) => {
  t.equal(reason, null, `loaded: ${reason ?? 'yes'}`);
  t.type(addon?.watchHangup, 'function');
});

t.test('a reset whose error is pending is reported', async (t) => {
  const { server, client } = await pair(t);
  const reports: Array<string | null> = [];
  const watch = addon?.watchHangup?.(socketFd(server) ?? -1, (code) => reports.push(code));
  t.ok(watch, 'watching');
  client.resetAndDestroy();
  await sleep(100);
  t.same(reports, ['ECONNRESET']);
});

t.test('a reset whose error a write already took is reported all the same', async (t) => {
  const { server, client } = await pair(t);
  const reports: Array<string | null> = [];
  addon?.watchHangup?.(socketFd(server) ?? -1, (code) => reports.push(code));
  client.resetAndDestroy(); // on loopback the RST is in the server's socket when this returns
  server.write('the program writes first'); // the write meets the reset: its EPIPE clears SO_ERROR
  await sleep(100);
  t.same(reports, ['ECONNRESET'], 'the connection is closed: a reset, though SO_ERROR is 0 by now');
});

t.test('a FIN alone (a half-close) is not a reset; unwatching ends the watch', async (t) => {
  const { server, client } = await pair(t);
  const reports: Array<string | null> = [];
  const watch = addon?.watchHangup?.(socketFd(server) ?? -1, (code) => reports.push(code));
  client.end();
  await sleep(150);
  t.same(reports, [], 'nothing for a FIN');
  if (watch) addon?.unwatchHangup?.(watch);
  client.resetAndDestroy();
  await sleep(100);
  t.same(reports, [], 'nothing after the watch ended');
});
