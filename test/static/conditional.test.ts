// Conditional and range requests on static files (RFC 9110 §13, §14), over raw
// sockets. The files get a fixed mtime so Last-Modified is known exactly.

import t, { type Test } from 'tap';
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseResponses, rawRequest, startPorta, tempDir, type ParsedResponse } from '../helpers/porta';

const SITE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'site');
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';
const N = DIGITS.length;
const MTIME = new Date('2020-01-02T03:04:05Z');
const LAST_MODIFIED = 'Thu, 02 Jan 2020 03:04:05 GMT';

async function server(t: Test): Promise<number> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  writeFileSync(join(dir, 'digits.txt'), DIGITS);
  utimesSync(join(dir, 'digits.txt'), MTIME, MTIME);
  mkdirSync(join(dir, 'assets'));
  for (const name of ['app.js', 'app.js.gz']) {
    copyFileSync(join(SITE, 'assets', name), join(dir, 'assets', name));
    utimesSync(join(dir, 'assets', name), MTIME, MTIME);
  }
  const s = await startPorta(t, { root: dir });
  t.teardown(() => s.close());
  return s.port;
}

async function request(
  port: number,
  extra: string,
  method = 'GET',
  target = '/digits.txt',
): Promise<{ r: ParsedResponse; raw: string }> {
  const { data } = await rawRequest(
    port,
    `${method} ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`,
  );
  const [r] = parseResponses(data, [method === 'HEAD']);
  if (r === undefined) throw new Error(`no response: ${JSON.stringify(data.toString('latin1'))}`);
  return { r, raw: data.toString('latin1') };
}

function check304(t: Test, r: ParsedResponse, raw: string, etag: string, fullLength = N): void {
  t.equal(r.statusLine, 'HTTP/1.1 304 Not Modified');
  t.ok(raw.endsWith('\r\n\r\n'), 'nothing after the head');
  t.equal(r.body.length, 0);
  t.equal(r.headers['etag'], etag, 'the ETag it would have sent with 200 (RFC 9110 §15.4.5)');
  t.ok(r.headers['date'] !== undefined, 'Date');
  t.equal(r.headers['transfer-encoding'], undefined);
  const length = r.headers['content-length'];
  t.ok(length === undefined || length === String(fullLength), 'no Content-Length, or that of the 200 (RFC 9110 §8.6)');
}

t.test('conditional and range requests', async (t) => {
  const port = await server(t);
  const full = await request(port, '');
  const etag = full.r.headers['etag'] ?? '';

  t.test('a 200 has the validators and Accept-Ranges', async (t) => {
    t.equal(full.r.status, 200);
    t.equal(full.r.headers['last-modified'], LAST_MODIFIED);
    t.match(etag, /^(W\/)?"[\x21\x23-\x7e]*"$/, 'an entity-tag (RFC 9110 §8.8.3)');
    t.equal(full.r.headers['accept-ranges'], 'bytes');
    t.equal(full.r.body.toString(), DIGITS);
  });

  t.test('If-Modified-Since', async (t) => {
    const same = await request(port, `If-Modified-Since: ${LAST_MODIFIED}\r\n`);
    check304(t, same.r, same.raw, etag);
    t.equal(same.r.headers['last-modified'], LAST_MODIFIED);
    const later = await request(port, 'If-Modified-Since: Fri, 03 Jan 2020 00:00:00 GMT\r\n');
    t.equal(later.r.status, 304, 'a later date');
    const earlier = await request(port, 'If-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n');
    t.equal(earlier.r.status, 200, 'an earlier date');
    t.equal(earlier.r.body.toString(), DIGITS);
    const garbage = await request(port, 'If-Modified-Since: yesterday\r\n');
    t.equal(garbage.r.status, 200, 'an invalid date is ignored (RFC 9110 §13.1.3)');
    const head = await request(port, `If-Modified-Since: ${LAST_MODIFIED}\r\n`, 'HEAD');
    t.equal(head.r.status, 304, 'HEAD too');
  });

  t.test('If-None-Match', async (t) => {
    const cases: Array<[string, number]> = [
      [etag, 304],
      [`W/${etag}`, 304], // weak comparison (RFC 9110 §13.1.2)
      [`"nope", ${etag}`, 304],
      [`"a",   "b" ,${etag}`, 304],
      ['*', 304],
      ['"nope"', 200],
      ['W/"nope"', 200],
      [etag.replace(/"$/, 'x"'), 200],
    ];
    for (const [value, status] of cases) {
      const { r, raw } = await request(port, `If-None-Match: ${value}\r\n`);
      t.equal(r.status, status, `If-None-Match: ${value}`);
      if (status === 304) check304(t, r, raw, etag);
    }
    const twoFields = await request(port, `If-None-Match: "nope"\r\nIf-None-Match: ${etag}\r\n`);
    t.equal(twoFields.r.status, 304, 'a list split over two fields');
  });

  t.test('If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.1.3)', async (t) => {
    const miss = await request(port, `If-None-Match: "nope"\r\nIf-Modified-Since: Fri, 03 Jan 2020 00:00:00 GMT\r\n`);
    t.equal(miss.r.status, 200, 'a non-matching tag wins over a fresh date');
    const hit = await request(port, `If-None-Match: ${etag}\r\nIf-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n`);
    t.equal(hit.r.status, 304, 'a matching tag wins over a stale date');
  });

  t.test('If-Match and If-Unmodified-Since', async (t) => {
    const mismatch = await request(port, 'If-Match: "nope"\r\n');
    t.equal(mismatch.r.statusLine, 'HTTP/1.1 412 Precondition Failed');
    t.equal(Number(mismatch.r.headers['content-length']), mismatch.r.body.length);
    t.equal((await request(port, `If-Match: ${etag}\r\n`)).r.status, 200);
    t.equal((await request(port, `If-Match: "a", ${etag}\r\n`)).r.status, 200);
    t.equal((await request(port, 'If-Match: *\r\n')).r.status, 200);
    t.equal(
      (await request(port, `If-Match: W/${etag}\r\n`)).r.status,
      412,
      'If-Match uses the strong comparison (RFC 9110 §13.1.1)',
    );
    t.equal((await request(port, 'If-Unmodified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n')).r.status, 412);
    t.equal((await request(port, `If-Unmodified-Since: ${LAST_MODIFIED}\r\n`)).r.status, 200);
    const both = await request(port, `If-Match: ${etag}\r\nIf-Unmodified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n`);
    t.equal(both.r.status, 200, 'If-Unmodified-Since is ignored when If-Match is present (RFC 9110 §13.2.2)');
    const failedRange = await request(port, 'If-Match: "nope"\r\nRange: bytes=0-1\r\n');
    t.equal(failedRange.r.status, 412, 'preconditions before Range');
  });

  t.test('single ranges', async (t) => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 9],
      ['bytes=-5', N - 5, N - 1],
      ['bytes=5-', 5, N - 1],
      ['bytes=30-1000', 30, N - 1],
      ['bytes=-1000', 0, N - 1], // RFC 9110 §14.1.1: a longer suffix means the whole representation
      ['bytes=35-35', 35, 35],
      ['bytes=0-0', 0, 0],
    ];
    for (const [range, start, end] of cases) {
      const { r } = await request(port, `Range: ${range}\r\n`);
      t.equal(r.statusLine, 'HTTP/1.1 206 Partial Content', range);
      t.equal(r.headers['content-range'], `bytes ${start}-${end}/${N}`, `${range}: Content-Range`);
      t.equal(r.headers['content-length'], String(end - start + 1), `${range}: Content-Length`);
      t.equal(r.body.toString(), DIGITS.slice(start, end + 1), `${range}: body`);
      t.equal(r.headers['etag'], etag, `${range}: ETag`);
      t.equal(r.headers['accept-ranges'], 'bytes', `${range}: Accept-Ranges`);
    }
  });

  t.test('unsatisfiable ranges are 416 with Content-Range: bytes */N', async (t) => {
    for (const range of [`bytes=${N}-`, `bytes=${N}-${N + 10}`, 'bytes=100-200', 'bytes=-0']) {
      const { r } = await request(port, `Range: ${range}\r\n`);
      t.equal(r.statusLine, 'HTTP/1.1 416 Range Not Satisfiable', range);
      t.equal(r.headers['content-range'], `bytes */${N}`, `${range}: Content-Range`);
      t.equal(Number(r.headers['content-length']), r.body.length);
      t.notOk(r.body.toString().includes(DIGITS), 'not the file');
    }
  });

  // RFC 9110 §14.2: a range unit the server does not understand MUST be ignored;
  // an invalid ranges-specifier (not §14.1.1's grammar) is ignored too: the
  // whole 200 (a 416 would say the ranges were understood). Never a 206 from
  // something that only looks like digits (regression: `0x1-5` was 0-5).
  t.test('foreign and malformed ranges are ignored', async (t) => {
    const { r } = await request(port, 'Range: items=0-1\r\n');
    t.equal(r.status, 200, 'items=0-1: unknown unit ignored');
    t.equal(r.body.toString(), DIGITS);
    for (const range of [
      'bytes=abc',
      'bytes=5-2',
      'bytes 0-1',
      'bytes=--1',
      'bytes=-',
      'bytes=0x1-5',
      'bytes=+1-5',
      'bytes=1.5-5',
      'bytes=1-5,x',
      'bytes=',
    ]) {
      const { r } = await request(port, `Range: ${range}\r\n`);
      t.equal(r.status, 200, `${range}: ignored`);
      t.equal(r.body.toString(), DIGITS);
    }
    const upper = await request(port, 'Range: BYTES=0-1\r\n');
    t.equal(upper.r.status, 206, 'the unit compares case-insensitively (§14.1)');
    t.equal(upper.r.body.toString(), DIGITS.slice(0, 2));
    const spaced = await request(port, 'Range: bytes=, 2-3 ,\r\n');
    t.equal(spaced.r.headers['content-range'], `bytes 2-3/${N}`, 'empty list elements and spaces (§5.6.1)');
  });

  t.test('two Range fields are no valid Range: ignored, 200 (RFC 9110 §5.3, §14.2)', async (t) => {
    const { r } = await request(port, 'Range: bytes=0-1\r\nRange: bytes=2-3\r\n');
    t.equal(r.status, 200, 'not 206 for the first one');
    t.equal(r.body.toString(), DIGITS);
  });

  t.test('multiple ranges get a valid answer', async (t) => {
    for (const range of ['bytes=0-1,5-6', 'bytes=0-1, 30-']) {
      const { r } = await request(port, `Range: ${range}\r\n`);
      t.comment(`${range} → ${r.statusLine} ${r.headers['content-type'] ?? ''}`);
      if (r.status === 200) {
        t.equal(r.body.toString(), DIGITS, `${range}: 200 with the whole file`);
        t.equal(r.headers['content-range'], undefined);
      } else if (r.status === 206 && r.headers['content-range'] !== undefined) {
        const m = /^bytes (\d+)-(\d+)\/36$/.exec(r.headers['content-range']);
        t.ok(m !== null, `${range}: one valid Content-Range`);
        const start = Number(m?.[1]);
        const end = Number(m?.[2]);
        t.equal(r.body.toString(), DIGITS.slice(start, end + 1));
      } else {
        t.match(r.headers['content-type'] ?? '', /^multipart\/byteranges; boundary=/, `${range}: multipart`);
      }
    }
    const overlapping = await request(port, 'Range: bytes=0-3,2-5\r\n');
    t.ok(overlapping.r.status === 200 || overlapping.r.status === 206, 'overlapping ranges');
    if (overlapping.r.status === 206 && overlapping.r.headers['content-range'] === 'bytes 0-5/36')
      t.equal(overlapping.r.body.toString(), '012345');
  });

  t.test('Range on HEAD is ignored (GET is the only method with range handling, RFC 9110 §14.2)', async (t) => {
    const { r, raw } = await request(port, 'Range: bytes=0-9\r\n', 'HEAD');
    t.equal(r.status, 200);
    t.equal(r.headers['content-length'], String(N));
    t.ok(raw.endsWith('\r\n\r\n'));
  });

  t.test('If-Range', async (t) => {
    const match = await request(port, `If-Range: ${etag}\r\nRange: bytes=0-9\r\n`);
    t.equal(match.r.status, 206, 'the current ETag: the range');
    t.equal(match.r.body.toString(), '0123456789');
    const old = await request(port, 'If-Range: "0-old"\r\nRange: bytes=0-9\r\n');
    t.equal(old.r.status, 200, 'an old ETag: the whole file');
    t.equal(old.r.body.toString(), DIGITS);
    const weak = await request(port, `If-Range: W/${etag}\r\nRange: bytes=0-9\r\n`);
    t.equal(weak.r.status, 200, 'a weak tag never matches (RFC 9110 §13.1.5)');
    const date = await request(port, `If-Range: ${LAST_MODIFIED}\r\nRange: bytes=0-9\r\n`);
    t.equal(date.r.status, 206, 'the Last-Modified date: the range');
    const oldDate = await request(port, 'If-Range: Wed, 01 Jan 2020 00:00:00 GMT\r\nRange: bytes=0-9\r\n');
    t.equal(oldDate.r.status, 200, 'another date: the whole file');
    const noRange = await request(port, `If-Range: ${etag}\r\n`);
    t.equal(noRange.r.status, 200, 'If-Range without Range is ignored');
  });

  t.test('304 on a negotiated file keeps Vary and the variant ETag', async (t) => {
    const gz = await request(port, 'Accept-Encoding: gzip\r\n', 'GET', '/assets/app.js');
    t.equal(gz.r.headers['content-encoding'], 'gzip');
    const tag = gz.r.headers['etag'] ?? '';
    const again = await request(port, `Accept-Encoding: gzip\r\nIf-None-Match: ${tag}\r\n`, 'GET', '/assets/app.js');
    check304(t, again.r, again.raw, tag, gz.r.body.length);
    t.equal(again.r.headers['vary'], 'Accept-Encoding', 'Vary on the 304 (RFC 9110 §15.4.5)');
    const identity = await request(port, `If-None-Match: ${tag}\r\n`, 'GET', '/assets/app.js');
    t.equal(identity.r.status, 200, 'the gzip ETag does not validate the identity representation');
    t.equal(identity.r.headers['content-encoding'], undefined);
  });
});
