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
