// The fuzzers' document root: a few small files (served from porta's memory
// cache after their first read), one over the cache limit (streamed, so
// backpressure is met), precompressed siblings, a folder with an index and
// one to list. Built in a temp folder; `files` maps each URL to its bytes so a
// 200 or 206 can be checked byte for byte.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface FuzzSite {
  root: string;
  /** URL path → the file's bytes (what a whole 200 carries). */
  files: Map<string, Buffer>;
  remove(): void;
}

export const HELLO = Buffer.from('Hello from porta.\n');

export function buildSite(): FuzzSite {
  const root = mkdtempSync(join(tmpdir(), 'porta-fuzz-'));
  const files = new Map<string, Buffer>();
  const put = (url: string, bytes: Buffer): void => {
    const path = join(root, ...url.split('/').filter((p) => p !== ''));
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, bytes);
    files.set(url, bytes);
  };
  put('/hello.txt', HELLO);
  put('/digits.txt', Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'));
  put('/index.html', Buffer.from('<!DOCTYPE html>\n<title>fuzz</title>\n<p>home</p>\n'));
  put('/data.json', Buffer.from('{"a":1,"b":[true,false,null]}\n'));
  put('/files/a.txt', Buffer.from('a file\n'));
  put('/files/sub/b.txt', Buffer.from('b\n'));
  put('/files/caf\u00e9.txt', Buffer.from('caf\u00e9\n'));
  put('/legacy/index.htm', Buffer.from('<p>legacy index</p>\n'));
  const app = Buffer.from('function hello() {\n  return "porta";\n}\n'.repeat(40));
  put('/assets/app.js', app);
  // The sibling is written after the source: it is not older, so it is used.
  put('/assets/app.js.gz', gzipSync(app));
  // Over the 64 KiB cache limit: read from disk in chunks, with backpressure.
  const big = Buffer.alloc(96 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
  put('/big.bin', big);
  writeFileSync(join(root, '.hidden'), 'secret\n');
  return { root, files, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** The URLs a request may name: the files, the folders, and a few that do not exist. */
export const TARGETS: readonly string[] = [
  '/hello.txt',
  '/digits.txt',
  '/index.html',
  '/data.json',
  '/files/a.txt',
  '/files/sub/b.txt',
  '/files/caf%C3%A9.txt',
  '/assets/app.js',
  '/big.bin',
  '/',
  '/files/',
  '/files',
  '/files/sub/',
  '/legacy/',
  '/nope',
  '/.hidden',
  '/hello.txt/',
  '/files/../hello.txt',
  '/%68ello.txt',
  '/hello.txt?x=1&y',
  '*',
];
