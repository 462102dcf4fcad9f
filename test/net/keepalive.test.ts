import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseResponses, rawRequest, startPorta, tempDir } from '../helpers/porta';

t.test('ten pipelined requests in one write are answered in order on one connection', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  for (let i = 0; i < 10; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`);
  const server = await startPorta(t, { root: dir });
  t.teardown(() => server.close());
  let bytes = '';
  for (let i = 0; i < 10; i++)
    bytes += `GET /f${i}.txt HTTP/1.1\r\nHost: x\r\n${i === 9 ? 'Connection: close\r\n' : ''}\r\n`;
  const { data, closed } = await rawRequest(server.port, bytes);
  const responses = parseResponses(data);
  t.equal(responses.length, 10);
  responses.forEach((r, i) => {
    t.equal(r.status, 200);
    t.equal(r.body.toString(), `file ${i}\n`);
  });
  t.equal(responses[9]?.headers['connection'], 'close');
  t.ok(closed, 'server closed after Connection: close');
});

t.test('a request split into one-byte writes is parsed whole', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'a.txt'), 'hello\n');
  const server = await startPorta(t, { root: dir });
  t.teardown(() => server.close());
  const request = 'GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const { data } = await rawRequest(server.port, request.split(''), { gapMs: 1 });
  const [r] = parseResponses(data);
  t.equal(r?.status, 200);
  t.equal(r?.body.toString(), 'hello\n');
});
