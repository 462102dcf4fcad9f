// Static files over raw sockets: index files, listings, the slash redirect,
// Content-Type, 404/405, precompressed siblings, and large bodies delivered
// byte-exact to fast and slow readers. The fixture tree test/fixtures/site is
// copied into a temporary root, where the odd names are added.

import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import {
  openSocket,
  parseResponses,
  rawRequest,
  sleep,
  startPorta,
  tempDir,
  type ParsedResponse,
  type TestServer,
} from '../helpers/porta';

const SITE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'site');
const BIG = 8 * 1024 * 1024;

async function site(t: Test): Promise<{ server: TestServer; root: string; big: Buffer }> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  cpSync(SITE, dir, { recursive: true });
  writeFileSync(join(dir, 'files', '<b>&.txt'), 'markup in a name\n');
  writeFileSync(join(dir, 'files', 'quote"it\'s.txt'), 'quotes\n');
  writeFileSync(join(dir, 'files', 'café #1 100%.txt'), 'utf-8 and reserved characters\n');
  writeFileSync(join(dir, 'files', '.secret'), 'hidden\n');
  writeFileSync(join(dir, 'image.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
  writeFileSync(join(dir, 'noext'), 'no extension\n');
  const big = randomBytes(BIG);
  writeFileSync(join(dir, 'big.bin'), big);
  const server = await startPorta(t, { root: dir });
  t.teardown(() => server.close());
  return { server, root: dir, big };
}

async function request(port: number, target: string, extra = '', method = 'GET'): Promise<ParsedResponse> {
  const { data } = await rawRequest(
    port,
    `${method} ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`,
    { timeoutMs: 10_000 },
  );
  const [r] = parseResponses(data, [method === 'HEAD']);
  if (r === undefined) throw new Error(`no response to ${method} ${target}`);
  return r;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

t.test('static files', async (t) => {
  const { server, root, big } = await site(t);
  const port = server.port;
  const fixture = (name: string): string => readFileSync(join(root, name), 'latin1');

  t.test('/ serves index.html', async (t) => {
    const r = await request(port, '/');
    t.equal(r.statusLine, 'HTTP/1.1 200 OK');
    t.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    t.equal(r.body.toString('latin1'), fixture('index.html'));
    t.equal(r.headers['content-length'], String(r.body.length));
  });

  t.test('a folder with only index.htm serves it', async (t) => {
    const r = await request(port, '/legacy/');
    t.equal(r.status, 200);
    t.equal(r.body.toString('latin1'), fixture('legacy/index.htm'));
    t.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  });

  t.test('a folder without an index is listed, names escaped, links percent-encoded', async (t) => {
    const r = await request(port, '/files/');
    t.equal(r.status, 200);
    t.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const html = r.body.toString('utf8');
    t.match(html, /<meta charset="utf-8">/i);
    t.ok(
      html.includes('<a href="%3Cb%3E%26.txt">&lt;b&gt;&amp;.txt</a>'),
      'markup in a name is text, and its link is encoded',
    );
    t.notOk(html.includes('<b>&'), 'the raw name never appears');
    t.ok(html.includes('<a href="a.txt">a.txt</a>'));
    t.ok(html.includes('<a href="sub/">sub/</a>'), 'folders end with a slash');
    t.ok(html.includes('href="caf%C3%A9%20%231%20100%25.txt"'), 'UTF-8, #, % and space are percent-encoded');
    t.ok(html.includes('>café #1 100%.txt<'), 'the name shows as UTF-8 text');
    t.ok(
      html.includes('href="quote%22it') && html.includes('quote&quot;it&#39;s.txt'),
      'quotes cannot break out of the attribute',
    );
    t.notOk(html.includes('.secret'), 'dotfiles are not listed');
    t.equal(Buffer.byteLength(html), Number(r.headers['content-length']));
    t.equal(r.headers['cache-control'], 'no-cache', "the files' Cache-Control: a reload shows a new file");
  });

  t.test('every link in the listing leads to the file', async (t) => {
    const html = (await request(port, '/files/')).body.toString('utf8');
    const hrefs = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1] ?? '').filter((h) => !h.endsWith('/'));
    t.ok(hrefs.length >= 4);
    for (const href of hrefs) {
      const r = await request(port, '/files/' + href);
      t.equal(r.status, 200, href);
    }
  });

  t.test('/dir redirects to /dir/ with 301, keeping the query', async (t) => {
    const plain = await request(port, '/files');
    t.equal(plain.statusLine, 'HTTP/1.1 301 Moved Permanently');
    t.equal(plain.headers['location'], '/files/');
    const query = await request(port, '/files?q=1&r=a%20b');
    t.equal(query.status, 301);
    t.equal(query.headers['location'], '/files/?q=1&r=a%20b');
    const nested = await request(port, '/files/sub?x');
    t.equal(nested.headers['location'], '/files/sub/?x');
  });

  // RFC 3986 §4.2: a Location starting with "//" is a network-path reference, so
  // "GET //files" answered "Location: //files/" sends browsers to the host
  // "files" (an open redirect; serve-static CVE-2015-1164).
  t.test('the slash redirect is never protocol-relative', async (t) => {
    for (const target of ['//files', '///files', '//files?q=1']) {
      const r = await request(port, target);
      if (r.status === 301)
        t.notMatch(r.headers['location'] ?? '', /^\/\//, `${target}: Location ${r.headers['location'] ?? ''}`);
      else t.ok([400, 404].includes(r.status), `${target}: refused with ${r.status}`);
    }
  });

  t.test('Content-Type from the extension, with charset for text', async (t) => {
    const types: Array<[string, string]> = [
      ['/hello.txt', 'text/plain; charset=utf-8'],
      ['/style.css', 'text/css; charset=utf-8'],
      ['/data.json', 'application/json; charset=utf-8'],
      ['/assets/app.js', 'text/javascript; charset=utf-8'],
      ['/image.png', 'image/png'],
      ['/noext', 'application/octet-stream'],
    ];
    for (const [target, type] of types)
      t.equal((await request(port, target, '', 'HEAD')).headers['content-type'], type, target);
  });

  t.test('missing things are 404', async (t) => {
    for (const target of ['/nope', '/nope/', '/files/nope.txt', '/hello.txt/', '/hello.txt/x']) {
      const r = await request(port, target);
      t.equal(r.statusLine, 'HTTP/1.1 404 Not Found', target);
      t.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      t.equal(r.headers['connection'], 'close');
    }
  });

  t.test('methods other than GET and HEAD on files are 405 with an Allow that tells the truth', async (t) => {
    for (const target of ['/hello.txt', '/files/', '/']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const r = await request(port, target, method === 'GET' ? '' : 'Content-Length: 0\r\n', method);
        t.equal(r.statusLine, 'HTTP/1.1 405 Method Not Allowed', `${method} ${target}`);
        const allow = (r.headers['allow'] ?? '').split(',').map((m) => m.trim());
        t.ok(
          allow.includes('GET') && allow.includes('HEAD'),
          `${method} ${target}: Allow: ${r.headers['allow'] ?? ''}`,
        );
        t.notOk(allow.includes(method), `${method} is not in Allow`);
        // RFC 9110 §10.2.1: Allow lists what the resource supports; every listed method must work.
        for (const listed of allow) {
          const answer = await request(port, target, '', listed);
          t.ok(
            answer.status >= 200 && answer.status < 300,
            `${listed} ${target} (listed in Allow) answers ${answer.status}`,
          );
        }
      }
    }
  });

  t.test('OPTIONS on a file: what porta sends', async (t) => {
    const r = await request(port, '/hello.txt', '', 'OPTIONS');
    t.comment(`OPTIONS /hello.txt → ${r.statusLine}, Allow: ${r.headers['allow'] ?? '(none)'}`);
    t.ok(r.status === 200 || r.status === 204, '2xx');
    t.match(r.headers['allow'] ?? '', /GET/);
    if (r.status === 204) t.equal(r.body.length, 0);
  });

  // RFC 9110 §9.3.7 / RFC 9112 §3.2.4: "OPTIONS *" asks about the server itself and
  // is the one valid use of asterisk-form; it is not a malformed request.
  t.test('OPTIONS * is answered, not refused', async (t) => {
    const r = await request(port, '*', '', 'OPTIONS');
    t.ok(r.status === 200 || r.status === 204, `OPTIONS * → ${r.statusLine}`);
  });

  t.test('precompressed siblings', async (t) => {
    const js = readFileSync(join(root, 'assets', 'app.js'));
    const identity = await request(port, '/assets/app.js');
    t.equal(identity.headers['content-encoding'], undefined, 'no Accept-Encoding: identity');
    t.equal(identity.headers['vary'], 'Accept-Encoding', 'Vary on the identity answer too (RFC 9110 §12.5.5)');
    t.same(identity.body, js);

    const gz = await request(port, '/assets/app.js', 'Accept-Encoding: gzip\r\n');
    t.equal(gz.headers['content-encoding'], 'gzip');
    t.equal(gz.headers['vary'], 'Accept-Encoding');
    t.equal(gz.headers['content-type'], 'text/javascript; charset=utf-8', 'the type of the original');
    t.same(gz.body, readFileSync(join(root, 'assets', 'app.js.gz')), 'the .gz bytes as they are');
    t.same(gunzipSync(gz.body), js);
    t.not(gz.headers['etag'], identity.headers['etag'], 'each representation has its own ETag');

    const br = await request(port, '/assets/app.js', 'Accept-Encoding: br\r\n');
    t.equal(br.headers['content-encoding'], 'br');
    t.same(brotliDecompressSync(br.body), js);

    const both = await request(port, '/assets/app.js', 'Accept-Encoding: gzip, deflate, br\r\n');
    t.ok(
      ['gzip', 'br'].includes(both.headers['content-encoding'] ?? ''),
      `gzip or br: ${both.headers['content-encoding'] ?? ''}`,
    );

    const refused = await request(port, '/assets/only-gz.css', 'Accept-Encoding: gzip;q=0, deflate\r\n');
    t.equal(refused.headers['content-encoding'], undefined, 'gzip;q=0 refuses gzip');
    t.same(refused.body, readFileSync(join(root, 'assets', 'only-gz.css')));
    t.equal(refused.headers['vary'], 'Accept-Encoding');

    const refusedQ = await request(port, '/assets/only-gz.css', 'Accept-Encoding: gzip;q=0.000\r\n');
    t.equal(refusedQ.headers['content-encoding'], undefined, 'gzip;q=0.000 refuses gzip');

    const star = await request(port, '/assets/only-gz.css', 'Accept-Encoding: *\r\n');
    t.equal(star.headers['content-encoding'], 'gzip', '* allows gzip');

    const notBr = await request(port, '/assets/only-gz.css', 'Accept-Encoding: br\r\n');
    t.equal(notBr.headers['content-encoding'], undefined, 'no .br sibling: identity');

    const plain = await request(port, '/hello.txt', 'Accept-Encoding: gzip, br\r\n');
    t.equal(plain.headers['content-encoding'], undefined);
    t.equal(plain.headers['vary'], undefined, 'no sibling, no negotiation, no Vary');
  });

  t.test('HEAD of a precompressed file reports the compressed length', async (t) => {
    const r = await request(port, '/assets/app.js', 'Accept-Encoding: gzip\r\n', 'HEAD');
    t.equal(r.headers['content-length'], String(readFileSync(join(root, 'assets', 'app.js.gz')).length));
    t.equal(r.body.length, 0);
  });

  t.test('an 8 MiB file arrives byte-exact', async (t) => {
    const r = await request(port, '/big.bin');
    t.equal(r.status, 200);
    t.equal(r.headers['content-type'], 'application/octet-stream');
    t.equal(r.headers['content-length'], String(BIG));
    t.equal(r.body.length, BIG);
    t.equal(sha(r.body), sha(big));
  });

  t.test('a slow reader gets every byte, and the server does not buffer the whole file for it', async (t) => {
    const socket = await openSocket(port);
    t.teardown(() => socket.destroy());
    const chunks: Buffer[] = [];
    let closed = false;
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => {
      closed = true;
    });
    socket.pause(); // reads nothing from the kernel until resumed; writes still go out
    socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let queuedMax = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      for (const c of server.porta.connections) queuedMax = Math.max(queuedMax, c.socket.writableLength);
    }
    t.ok(queuedMax < BIG / 2, `bytes queued in porta for the paused client stay bounded (${queuedMax})`);
    t.equal(chunks.length, 0, 'nothing was read during the pause');
    socket.resume();
    const deadline = Date.now() + 10_000;
    while (!closed && Date.now() < deadline) await sleep(20);
    const [r] = parseResponses(Buffer.concat(chunks));
    t.equal(r?.body.length, BIG);
    t.equal(sha(r?.body ?? Buffer.alloc(0)), sha(big), 'byte-exact after the pause');
  });

  t.test('two large files pipelined on one connection', async (t) => {
    const { data } = await rawRequest(
      port,
      'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      { timeoutMs: 15_000 },
    );
    const responses = parseResponses(data);
    t.equal(responses.length, 2);
    for (const r of responses) t.equal(sha(r.body), sha(big));
  });
});

t.test('file names are bytes: a name that is not UTF-8 is listed at its raw bytes and served there', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  mkdirSync(join(dir, 'old'));
  // "café.txt" as an older disk stores it: Latin-1, é = 0xE9.
  const name = Buffer.concat([Buffer.from(join(dir, 'old', 'caf')), Buffer.from([0xe9]), Buffer.from('.txt')]);
  writeFileSync(name, 'from an older disk\n');
  writeFileSync(join(dir, 'old', 'café.txt'), 'utf-8 name\n');
  const server = await startPorta(t, { root: dir });
  const listing = await request(server.port, '/old/');
  const html = listing.body.toString('utf8');
  t.match(html, /<a href="caf%E9\.txt">caf\uFFFD\.txt<\/a>/, 'the link percent-encodes the raw byte');
  t.match(html, /<a href="caf%C3%A9\.txt">café\.txt<\/a>/, 'a UTF-8 name as before');
  const latin1 = await request(server.port, '/old/caf%E9.txt');
  t.equal(latin1.status, 200, 'served at that link (nginx, lighttpd and Apache do the same)');
  t.equal(latin1.body.toString(), 'from an older disk\n');
  t.equal(latin1.headers['content-type'], 'text/plain; charset=utf-8');
  const utf8 = await request(server.port, '/old/caf%C3%A9.txt');
  t.equal(utf8.body.toString(), 'utf-8 name\n', 'the two names are two files');
  t.equal((await request(server.port, '/old/caf%E9.txt', 'Range: bytes=5-8\r\n')).body.toString(), 'an o');
  t.equal((await request(server.port, '/old/caf%E8.txt')).status, 404, 'another byte: another (missing) file');
});
