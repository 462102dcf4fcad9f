// How fresh static answers are: a file created after a 404 is served at once
// (missing files are never remembered); a changed file shows, with new
// validators, once `statCacheMs` has passed.

import t from 'tap';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getOnce, sleep, startPorta, tempDir } from '../helpers/porta';

t.test('a file created right after a 404 is served at once', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const server = await startPorta(t, { root: dir, limits: { statCacheMs: 60_000 } });
  t.teardown(() => server.close());
  t.equal((await getOnce(server.port, '/late.txt'))?.status, 404);
  writeFileSync(join(dir, 'late.txt'), 'here now\n');
  const r = await getOnce(server.port, '/late.txt');
  t.equal(r?.status, 200);
  t.equal(r?.body.toString(), 'here now\n');
});

t.test('a changed file is served with new bytes and validators after statCacheMs', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const file = join(dir, 'page.txt');
  writeFileSync(file, 'first\n');
  utimesSync(file, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
  const server = await startPorta(t, { root: dir, limits: { statCacheMs: 100 } });
  t.teardown(() => server.close());
  const before = await getOnce(server.port, '/page.txt');
  t.equal(before?.body.toString(), 'first\n');
  writeFileSync(file, 'second, longer\n');
  await sleep(150);
  const after = await getOnce(server.port, '/page.txt');
  t.equal(after?.body.toString(), 'second, longer\n');
  t.equal(after?.headers['content-length'], '15');
  t.not(after?.headers['etag'], before?.headers['etag'], 'a new ETag');
  t.not(after?.headers['last-modified'], before?.headers['last-modified'], 'a new Last-Modified');
});
