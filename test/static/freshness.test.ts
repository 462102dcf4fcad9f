// How fresh static answers are: a file created after a 404 is served at once
// (missing files are never remembered); a changed file shows, with new
// validators, once `statCacheMs` has passed.

import t from 'tap';
import { unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { getOnce, parseResponses, rawRequest, sleep, startPorta, tempDir } from '../helpers/porta';

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

t.test('an edited source stops its stale precompressed sibling from being used', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const css = join(dir, 'style.css');
  writeFileSync(css, 'body { color: red }\n');
  writeFileSync(`${css}.gz`, gzipSync(Buffer.from('body { color: red }\n')));
  const old = new Date('2026-01-01T00:00:00Z');
  utimesSync(css, old, old);
  utimesSync(`${css}.gz`, old, old);
  const server = await startPorta(t, { root: dir, limits: { statCacheMs: 0 } });
  const gzip = 'Accept-Encoding: gzip\r\n';
  const { data } = await rawRequest(
    server.port,
    `GET /style.css HTTP/1.1\r\nHost: x\r\n${gzip}Connection: close\r\n\r\n`,
  );
  t.equal(parseResponses(data)[0]?.headers['content-encoding'], 'gzip', 'a fresh sibling is used');
  writeFileSync(css, 'body { color: blue }\n'); // edited now: newer than its .gz
  const edited = parseResponses(
    (await rawRequest(server.port, `GET /style.css HTTP/1.1\r\nHost: x\r\n${gzip}Connection: close\r\n\r\n`)).data,
  )[0];
  t.equal(edited?.headers['content-encoding'], undefined, 'the stale .gz is not');
  t.equal(edited?.body.toString(), 'body { color: blue }\n', 'the edit shows');
});

t.test('Cache-Control: no-cache by default (a development server), --cache-control chooses', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  const dev = await startPorta(t, { root: dir });
  const first = await getOnce(dev.port, '/a.txt');
  t.equal(first?.headers['cache-control'], 'no-cache', 'revalidate every time: edits show on a plain reload');
  const { data } = await rawRequest(
    dev.port,
    `GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${first?.headers['etag'] ?? ''}\r\nConnection: close\r\n\r\n`,
  );
  const notModified = parseResponses(data)[0];
  t.equal(notModified?.status, 304, 'and the revalidation is a cheap 304');
  t.equal(notModified?.headers['cache-control'], 'no-cache', 'which carries it too (RFC 9110 §15.4.5)');
  const prod = await startPorta(t, { root: dir, cacheControl: 'public, max-age=3600' });
  t.equal((await getOnce(prod.port, '/a.txt'))?.headers['cache-control'], 'public, max-age=3600');
  const none = await startPorta(t, { root: dir, cacheControl: null });
  t.equal((await getOnce(none.port, '/a.txt'))?.headers['cache-control'], undefined);
});

// A file edited within the moment its lookup is remembered: the head built
// from the old stat must not label the new bytes (regression: the first 10
// bytes of the new file went out under the old file's ETag and length). Each
// body route (read whole, sendfile, stream) checks the open file against it.
for (const route of [
  { name: 'read whole', size: 10, grown: 26, sendfile: true },
  { name: 'sendfile', size: 200_000, grown: 300_000, sendfile: true },
  { name: 'streamed', size: 200_000, grown: 300_000, sendfile: false },
]) {
  t.test(`a file changed within statCacheMs is answered afresh (${route.name})`, async (t) => {
    const { dir, remove } = tempDir();
    t.teardown(remove);
    const file = join(dir, 'chg.bin');
    const before = Buffer.alloc(route.size, 'a');
    const after = Buffer.alloc(route.grown, 'b');
    writeFileSync(file, before);
    utimesSync(file, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
    const server = await startPorta(t, { root: dir, sendfile: route.sendfile, limits: { statCacheMs: 60_000 } });
    const head = async () =>
      parseResponses(
        (await rawRequest(server.port, 'HEAD /chg.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).data,
        [true],
      )[0];
    const old = await head(); // the lookup (and its stat) is now remembered for 60 s
    t.equal(old?.headers['content-length'], String(route.size));
    writeFileSync(file, after);
    const { data } = await rawRequest(server.port, 'GET /chg.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const got = parseResponses(data)[0];
    t.equal(got?.status, 200);
    t.equal(got?.headers['content-length'], String(route.grown), 'the new length');
    t.not(got?.headers['etag'], old?.headers['etag'], 'a new ETag');
    t.ok(got?.body.equals(after), 'every byte the new file’s');
    // The next look at it sees the new version too (the remembered lookup was dropped).
    t.equal((await head())?.headers['etag'], got?.headers['etag']);
  });
}

t.test('a precompressed file keeps its own ETag and its variant’s, whichever is asked first', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'app.js'), 'console.log(1)\n');
  writeFileSync(join(dir, 'app.js.gz'), gzipSync(Buffer.from('console.log(1)\n')));
  const server = await startPorta(t, { root: dir, limits: { statCacheMs: 60_000 } });
  const get = async (target: string, extra: string) =>
    parseResponses(
      (await rawRequest(server.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`)).data,
    )[0];
  // The .gz asked for by name first (regression: its tag was then reused for the gzip variant of app.js).
  const direct = await get('/app.js.gz', '');
  const variant = await get('/app.js', 'Accept-Encoding: gzip\r\n');
  t.equal(variant?.headers['content-encoding'], 'gzip');
  t.not(variant?.headers['etag'], direct?.headers['etag'], 'the variant has its own entity tag');
  t.match(variant?.headers['etag'] ?? '', /-gzip"$/);
  const revalidated = await get('/app.js', `Accept-Encoding: gzip\r\nIf-None-Match: ${variant?.headers['etag']}\r\n`);
  t.equal(revalidated?.status, 304, 'its own tag revalidates it');
  t.equal((await get('/app.js.gz', ''))?.headers['etag'], direct?.headers['etag'], 'and the .gz keeps its own');
});

// A file deleted within the moment its lookup is remembered is gone, not a
// server error (regression: the open's ENOENT answered 500 for up to a second).
for (const route of [
  { name: 'read whole', size: 10, sendfile: true },
  { name: 'sendfile', size: 300_000, sendfile: true },
  { name: 'streamed', size: 300_000, sendfile: false },
]) {
  t.test(`a file deleted within statCacheMs is a 404 (${route.name})`, async (t) => {
    const { dir, remove } = tempDir();
    t.teardown(remove);
    const file = join(dir, 'gone.bin');
    writeFileSync(file, Buffer.alloc(route.size, 'a'));
    const server = await startPorta(t, { root: dir, sendfile: route.sendfile, limits: { statCacheMs: 60_000 } });
    const before = await rawRequest(server.port, 'HEAD /gone.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    t.equal(parseResponses(before.data, [true])[0]?.status, 200, 'its lookup is now remembered for 60 s');
    unlinkSync(file);
    t.equal((await getOnce(server.port, '/gone.bin'))?.status, 404);
    t.notMatch(server.logs(), /ENOENT/, 'nothing for the error log');
  });
}

t.test('a precompressed sibling deleted within statCacheMs: the file itself is served', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  // Random text: its .gz stays large (no small-file cache, which keeps what it read for the second).
  const text = randomBytes(225_000).toString('base64');
  const page = join(dir, 'big.txt');
  writeFileSync(page, text);
  writeFileSync(`${page}.gz`, gzipSync(Buffer.from(text)));
  const old = new Date('2026-01-01T00:00:00Z');
  utimesSync(page, old, old);
  const server = await startPorta(t, { root: dir, limits: { statCacheMs: 60_000 } });
  const get = async () =>
    parseResponses(
      (
        await rawRequest(
          server.port,
          'GET /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n',
        )
      ).data,
    )[0];
  t.equal((await get())?.headers['content-encoding'], 'gzip', 'the sibling first');
  unlinkSync(`${page}.gz`);
  const after = await get();
  t.equal(after?.status, 200);
  t.equal(after?.headers['content-encoding'], undefined, 'then the file itself');
  t.equal(after?.body.toString(), text);
});

// A development server: saved, then reloaded at once (regression: the answer
// remembered for a second was served, old bytes or a 304 for the old ETag).
t.test('an edit shows on the very next request (the folder is watched)', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const file = join(dir, 'page.html');
  writeFileSync(file, '<p>first</p>\n');
  const server = await startPorta(t, { root: dir }); // the default one-second memory
  t.teardown(() => server.close());
  const before = await getOnce(server.port, '/page.html');
  t.equal(before?.body.toString(), '<p>first</p>\n');
  writeFileSync(file, '<p>second, saved</p>\n');
  const after = await getOnce(server.port, '/page.html');
  t.equal(after?.body.toString(), '<p>second, saved</p>\n', 'the saved bytes');
  t.not(after?.headers['etag'], before?.headers['etag'], 'under a new ETag');
  const revalidate = await rawRequest(
    server.port,
    `GET /page.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${before?.headers['etag']}\r\nConnection: close\r\n\r\n`,
  );
  t.equal(parseResponses(revalidate.data)[0]?.status, 200, 'the old ETag is no longer current: 200, not 304');
  unlinkSync(file);
  t.equal((await getOnce(server.port, '/page.html'))?.status, 404, 'and a deleted file is gone at once');
});

t.test('an edited source is served at once over its now stale .gz', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const css = join(dir, 'style.css');
  writeFileSync(css, 'body { color: red }\n');
  writeFileSync(`${css}.gz`, gzipSync(Buffer.from('body { color: red }\n')));
  const old = new Date(Date.now() - 60_000);
  utimesSync(css, old, old);
  utimesSync(`${css}.gz`, old, old);
  const server = await startPorta(t, { root: dir });
  t.teardown(() => server.close());
  const get = async () =>
    parseResponses(
      (
        await rawRequest(
          server.port,
          'GET /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n',
        )
      ).data,
    )[0];
  t.equal((await get())?.headers['content-encoding'], 'gzip', 'the fresh sibling first');
  writeFileSync(css, 'body { color: blue }\n');
  const edited = await get();
  t.equal(edited?.headers['content-encoding'], undefined, 'then, at once, the edited file itself');
  t.equal(edited?.body.toString(), 'body { color: blue }\n');
});
