// A file's head built once a second (http/head-memo.ts): whatever the memo
// keeps, every answer must be the bytes it would have been without it. Unit
// checks with a stopped clock, then raw bytes over a socket: one connection
// asking for the same file as GET, HEAD, HTTP/1.0, a range and Connection:
// close (each changes the head), a file changed on disk, and many files.

import t from 'tap';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixedFields, fixedHead, headAndBody, headBytes, isFixed } from '../../src/http/head-memo';
import { buildHead, type HeaderList } from '../../src/http/response';
import { parseResponses, rawRequest, startPorta, tempDir } from '../helpers/porta';

/** Run `body` with Date.now() reading `ms`. */
function atTime<T>(ms: number, body: () => T): T {
  const real = Date.now;
  Date.now = () => ms;
  try {
    return body();
  } finally {
    Date.now = real;
  }
}

t.test('a fixed list is frozen; unsafe values and Connection fields are not fixed', async (t) => {
  const list: HeaderList = [['Content-Type', 'text/plain']];
  t.equal(fixedFields(list), list);
  t.ok(isFixed(list));
  t.throws(() => list.push(['X', 'y']), 'frozen: nobody can change a remembered list');
  const unsafe: HeaderList = [['X-A', 'a\r\nInjected: yes']];
  const copy = fixedFields(unsafe);
  t.not(copy, unsafe);
  t.notOk(isFixed(copy), 'the ordinary path, with its checks, takes it');
  t.notOk(isFixed(fixedFields([['Connection', 'close']])));
});

t.test('the same head within a second; a new one when anything it says changes', async (t) => {
  const fields = fixedFields([
    ['Content-Type', 'text/plain'],
    ['ETag', '"1"'],
  ]);
  const spec = {
    status: 200,
    fields,
    framing: { kind: 'length', length: 5 },
    connection: null,
    version: '1.1',
  } as const;
  const second = Date.UTC(2026, 10, 30, 12, 0, 0);
  const a = atTime(second + 10, () => fixedHead(spec));
  const b = atTime(second + 990, () => fixedHead(spec));
  t.equal(b, a, 'remembered within the second');
  t.equal(
    a.head,
    atTime(second, () => buildHead(spec)),
    'the bytes buildHead makes',
  );
  t.match(a.head, /\r\nDate: Mon, 30 Nov 2026 12:00:00 GMT\r\n/);
  const c = atTime(second + 1000, () => fixedHead(spec));
  t.match(c.head, /\r\nDate: Mon, 30 Nov 2026 12:00:01 GMT\r\n/, 'the next second: a new Date');
  const variants = [
    { ...spec, status: 206 },
    { ...spec, framing: { kind: 'length', length: 6 } },
    { ...spec, connection: 'close' },
    { ...spec, connection: 'keep-alive' },
    { ...spec, version: '1.0' },
  ] as const;
  for (const variant of variants) {
    const memo = atTime(second + 1000, () => fixedHead(variant));
    t.equal(
      memo.head,
      atTime(second + 1000, () => buildHead(variant)),
      JSON.stringify(variant.framing),
    );
  }
  const body = Buffer.from('hello');
  const memo = atTime(second + 2000, () => fixedHead(spec));
  const whole = atTime(second + 2000, () => headAndBody(memo, body));
  t.same(whole, Buffer.concat([Buffer.from(memo.head, 'latin1'), body]));
  t.equal(
    atTime(second + 2000, () => headAndBody(memo, body)),
    whole,
    'the same Buffer for the same body',
  );
  const other = Buffer.from('world');
  t.same(
    atTime(second + 2000, () => headAndBody(memo, other)),
    Buffer.concat([Buffer.from(memo.head, 'latin1'), other]),
    'another body: its own bytes',
  );
  t.same(headBytes(memo), Buffer.from(memo.head, 'latin1'));
});

t.test('one connection, one file, every kind of head: each answer exact', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const file = join(dir, 'f.txt');
  writeFileSync(file, 'hello, memo\n');
  const mtime = new Date('2021-03-04T05:06:07Z');
  utimesSync(file, mtime, mtime);
  const s = await startPorta(t, { root: dir });
  const asks = [
    'GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'HEAD /f.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /f.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    'GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n',
    'GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ];
  const { data, closed } = await rawRequest(s.port, asks.join(''), { timeoutMs: 5000 });
  t.ok(closed, 'closed after the Connection: close request');
  const responses = parseResponses(data, [false, false, true, false, false, false, false]);
  t.equal(responses.length, asks.length);
  const text = data.toString('latin1');
  const fixedPart =
    'Server: porta/\\S+\r\nContent-Type: text/plain; charset=utf-8\r\n' +
    'Last-Modified: Thu, 04 Mar 2021 05:06:07 GMT\r\nETag: "[^"]+"\r\nAccept-Ranges: bytes\r\nCache-Control: no-cache\r\n';
  const date = 'Date: [A-Z][a-z]{2}, \\d\\d [A-Z][a-z]{2} \\d{4} \\d\\d:\\d\\d:\\d\\d GMT\r\n';
  const expected = [
    `HTTP/1.1 200 OK\r\n${date}${fixedPart}Content-Length: 12\r\n\r\nhello, memo\n`,
    `HTTP/1.1 200 OK\r\n${date}${fixedPart}Content-Length: 12\r\n\r\nhello, memo\n`,
    `HTTP/1.1 200 OK\r\n${date}${fixedPart}Content-Length: 12\r\n\r\n`,
    `HTTP/1.1 200 OK\r\n${date}${fixedPart}Content-Length: 12\r\nConnection: keep-alive\r\n\r\nhello, memo\n`,
    `HTTP/1.1 206 Partial Content\r\n${date}${fixedPart}Content-Range: bytes 0-4/12\r\nContent-Length: 5\r\n\r\nhello`,
    `HTTP/1.1 200 OK\r\n${date}${fixedPart}Content-Length: 12\r\n\r\nhello, memo\n`,
    `HTTP/1.1 200 OK\r\n${date}${fixedPart}Content-Length: 12\r\nConnection: close\r\n\r\nhello, memo\n`,
  ];
  t.match(text, new RegExp(`^${expected.join('')}$`), 'every byte of every answer');
});

t.test('a file changed on disk: the next answer has its new bytes and validators', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const file = join(dir, 'f.txt');
  writeFileSync(file, 'first version\n');
  utimesSync(file, new Date('2021-01-01T00:00:00Z'), new Date('2021-01-01T00:00:00Z'));
  // No remembered lookups: each request stats the file again.
  const s = await startPorta(t, { root: dir, limits: { statCacheMs: 0 } });
  const get = async () => {
    const { data } = await rawRequest(s.port, 'GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
      timeoutMs: 5000,
    });
    return parseResponses(data)[0];
  };
  const first = await get();
  t.equal(first?.body.toString(), 'first version\n');
  writeFileSync(file, 'the second, longer version\n');
  utimesSync(file, new Date('2022-02-02T00:00:00Z'), new Date('2022-02-02T00:00:00Z'));
  const second = await get();
  t.equal(second?.body.toString(), 'the second, longer version\n', 'within the same second, too');
  t.equal(second?.headers['content-length'], '27');
  t.equal(second?.headers['last-modified'], 'Wed, 02 Feb 2022 00:00:00 GMT');
  t.not(second?.headers['etag'], first?.headers['etag']);
});

t.test('many files on one connection: each answer is its own file', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const count = 300;
  // 8 KiB each: together past the memo's budget, so some answers are built one-off.
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `f${i}.bin`), Buffer.alloc(8192, i % 251));
  const s = await startPorta(t, { root: dir });
  for (let round = 0; round < 2; round++) {
    const asks = Array.from({ length: count }, (_, i) => `GET /f${i}.bin HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const { data } = await rawRequest(s.port, `${asks}GET /f0.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
      timeoutMs: 10_000,
    });
    const responses = parseResponses(data);
    t.equal(responses.length, count + 1);
    let wrong = 0;
    for (let i = 0; i < count; i++) {
      const r = responses[i];
      if (r === undefined || r.status !== 200 || !r.body.equals(Buffer.alloc(8192, i % 251))) wrong++;
    }
    t.equal(wrong, 0, `round ${round}: no answer carries another file's bytes`);
  }
});
