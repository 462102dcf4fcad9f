// Smaller points of RFC 9110 found by a review, each in raw bytes: the
// precompressed sibling the client weighs highest (§12.5.3), ranges over an
// empty file (§14.1.1), and the 301 page's link (HTML-escaped, not encoded
// twice).

import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { parseResponses, rawRequest, startPorta, tempDir } from '../helpers/porta';

async function site(t: Test) {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const js = Buffer.from('console.log("hello")\n');
  writeFileSync(join(dir, 'app.js'), js);
  writeFileSync(join(dir, 'app.js.gz'), gzipSync(js));
  writeFileSync(join(dir, 'app.js.br'), brotliCompressSync(js));
  writeFileSync(join(dir, 'empty.txt'), '');
  mkdirSync(join(dir, 'sp ace'));
  writeFileSync(join(dir, 'sp ace', 'index.html'), 'in\n');
  mkdirSync(join(dir, 'files', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'files', 'sub', 'a.txt'), 'a\n');
  const server = await startPorta(t, { root: dir });
  const get = async (target: string, extra = '') =>
    parseResponses(
      (await rawRequest(server.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`)).data,
    )[0];
  return { get };
}

t.test('the precompressed sibling with the highest q wins; ties go to br', async (t) => {
  const { get } = await site(t);
  const coding = async (accept: string) =>
    (await get('/app.js', `Accept-Encoding: ${accept}\r\n`))?.headers['content-encoding'] ?? 'identity';
  t.equal(await coding('br;q=0.1, gzip;q=0.9'), 'gzip', 'regression: br was taken at any q > 0');
  t.equal(await coding('gzip, br'), 'br', 'equal weights: the smaller one');
  t.equal(await coding('gzip;q=0.5, *;q=0.8'), 'br', 'br by the wildcard, weighed higher');
  t.equal(await coding('br;q=0, gzip'), 'gzip');
  t.equal(await coding('br;q=0, gzip;q=0'), 'identity');
  t.equal(await coding('gzip;q=7'), 'identity', 'not a qvalue: no preference acted on');
});

t.test('ranges over an empty file (RFC 9110 §14.1.1)', async (t) => {
  const { get } = await site(t);
  const suffix = await get('/empty.txt', 'Range: bytes=-5\r\n');
  t.equal(suffix?.status, 200, 'a non-zero suffix is satisfiable and selects all of it: the whole (empty) 200');
  t.equal(suffix?.headers['content-length'], '0');
  const first = await get('/empty.txt', 'Range: bytes=0-\r\n');
  t.equal(first?.status, 416, 'a first-pos is not');
  t.equal(first?.headers['content-range'], 'bytes */0');
});

t.test("the 301 to a folder's slash: the page links to the Location as sent, HTML-escaped", async (t) => {
  const { get } = await site(t);
  const r = await get('/sp%20ace?a=1&b=%20');
  t.equal(r?.status, 301);
  t.equal(r?.headers['location'], '/sp%20ace/?a=1&b=%20');
  t.equal(r?.body.toString(), '<a href="/sp%20ace/?a=1&amp;b=%20">Moved Permanently</a>\n');
});

t.test('a folder named with dot segments is redirected to its plain name (RFC 3986 §5.2.4)', async (t) => {
  const { get } = await site(t);
  const cases: Array<[string, string]> = [
    ['/files/sub/..', '/files/'],
    ['/files/sub/.', '/files/sub/'],
    ['/files/sub/%2E%2e', '/files/'],
    ['/files/./sub', '/files/sub/'],
    ['//files//sub', '/files/sub/'],
    ['/files/sub/..?x=1', '/files/?x=1'],
    ['/files/..', '/'],
  ];
  for (const [target, location] of cases) {
    const r = await get(target);
    t.equal(r?.status, 301, `${target}: 301`);
    t.equal(r?.headers.location, location, `${target}: to ${location} (regression: to ${target}/)`);
  }
  t.equal((await get('/files/sub/../sub/a.txt'))?.body.toString(), 'a\n', 'a file through dot segments is served');
});

t.test('a folder\'s listing has no validators: If-Match fails unless "*" (RFC 9110 §13.1.1)', async (t) => {
  const { get } = await site(t);
  t.equal((await get('/files/', 'If-Match: "abc"\r\n'))?.status, 412, 'a tag: 412 (regression: 200)');
  t.equal((await get('/files/', 'If-Match: W/"abc", "def"\r\n'))?.status, 412, 'a list of tags: 412');
  t.equal((await get('/files/', 'If-Match: *\r\n'))?.status, 200, '"*": it exists, 200');
  t.equal((await get('/files/', 'If-None-Match: *\r\n'))?.status, 304, 'If-None-Match "*": it exists, 304');
  t.equal((await get('/files/', 'If-None-Match: "abc"\r\n'))?.status, 200, 'If-None-Match with a tag: 200');
  t.equal(
    (await get('/files/', 'If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n'))?.status,
    200,
    'no date to compare: If-Unmodified-Since ignored',
  );
});
