// The site the chaos run serves: generated in a temporary folder from the seed,
// so every expected byte is known before the first request. Everything is
// world-readable (folders 0755, files 0644, scripts 0755) because porta, started
// as root, runs CGI programs as `nobody`.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveSeed, Rng } from './rng';

export interface SiteFile {
  url: string;
  bytes: Buffer;
}

export interface RangeSpec {
  file: SiteFile;
  /** The Range header value. */
  header: string;
  /** First and last byte, both included. */
  start: number;
  end: number;
}

/** A CGI program whose output is `header` + `body` (for echo scripts, body is the request body). */
export interface Script {
  url: string;
  header: Buffer;
  body: Buffer;
}

export interface Site {
  root: string;
  /** The servers' TMPDIR: a CGI body past 1 MiB spools there, and nothing may be left at the end. */
  spool: string;
  /** Files of 1 B to 64 KiB (the listed ones included). */
  small: SiteFile[];
  /** Files of 1 to 8 MiB, plus the CGI data file. */
  large: SiteFile[];
  ranges: RangeSpec[];
  index: SiteFile;
  listingUrl: string;
  listedNames: string[];
  hello: Script;
  big: Script;
  echo: Script;
  /** null when /usr/bin/python3 is missing. */
  pyEcho: Script | null;
  /** The whole output of the nph- script: status line, headers and body. */
  nph: Script;
  remove(): void;
}

const EXTENSIONS = ['.txt', '.bin', '.html', '.css', '.json'];
const KiB = 1024;
const MiB = 1024 * KiB;

function put(root: string, rel: string, bytes: Buffer | string, mode = 0o644): void {
  const path = join(root, rel);
  writeFileSync(path, bytes);
  chmodSync(path, mode);
}

function folder(root: string, rel: string): void {
  const path = join(root, rel);
  mkdirSync(path, { recursive: true });
  chmodSync(path, 0o755);
}

function pickRanges(rng: Rng, file: SiteFile): RangeSpec[] {
  const size = file.bytes.length;
  const out: RangeSpec[] = [];
  for (let i = 0; i < 2; i++) {
    const form = rng.int(0, 2);
    if (form === 0) {
      const start = rng.int(0, size - 1);
      const end = rng.int(start, Math.min(size - 1, start + rng.int(0, 2 * MiB)));
      out.push({ file, header: `bytes=${start}-${end}`, start, end });
    } else if (form === 1) {
      const start = rng.int(Math.max(0, size - 3 * MiB), size - 1);
      out.push({ file, header: `bytes=${start}-`, start, end: size - 1 });
    } else {
      const n = rng.int(1, Math.min(size, 3 * MiB));
      out.push({ file, header: `bytes=-${n}`, start: size - n, end: size - 1 });
    }
  }
  return out;
}

export function makeSite(seed: number): Site {
  const rng = new Rng(deriveSeed(seed, 0));
  const root = mkdtempSync(join(tmpdir(), 'porta-chaos-'));
  chmodSync(root, 0o755);
  const spool = mkdtempSync(join(tmpdir(), 'porta-chaos-tmp-'));
  for (const dir of ['files', 'large', 'list', 'list/sub', 'data', 'cgi-bin']) folder(root, dir);

  const small: SiteFile[] = [];
  const sizes = [1, 64 * KiB, rng.int(2, 100), rng.int(100, 1500), rng.int(1500, 16 * KiB)];
  while (sizes.length < 10) sizes.push(rng.int(1, 64 * KiB));
  sizes.forEach((size, i) => {
    const name = `s${i}${rng.pick(EXTENSIONS)}`;
    const bytes = rng.bytes(size);
    put(root, `files/${name}`, bytes);
    small.push({ url: `/files/${name}`, bytes });
  });

  const listedNames = ['plain.txt', 'with space.txt', 'amp&.txt', 'zzz.bin'];
  for (const name of listedNames) {
    const bytes = rng.bytes(rng.int(1, 4 * KiB));
    put(root, `list/${name}`, bytes);
    small.push({ url: `/list/${encodeURIComponent(name)}`, bytes });
  }
  put(root, 'list/sub/inner.txt', 'inner\n');

  const large: SiteFile[] = [];
  const largeSizes = [rng.int(1 * MiB, 2 * MiB), rng.int(2 * MiB, 4 * MiB), rng.int(4 * MiB, 8 * MiB)];
  largeSizes.forEach((size, i) => {
    const bytes = rng.bytes(size);
    put(root, `large/l${i}.bin`, bytes);
    large.push({ url: `/large/l${i}.bin`, bytes });
  });

  // The big CGI script's output: a few hundred KiB read by `cat` from this file.
  const bigData = rng.bytes(rng.int(200 * KiB, 400 * KiB));
  const bigPath = join(root, 'data', 'cgi-big.bin');
  put(root, 'data/cgi-big.bin', bigData);
  large.push({ url: '/data/cgi-big.bin', bytes: bigData });

  const ranges = [...small, ...large].flatMap((file) => pickRanges(rng, file));

  const indexBytes = Buffer.from(
    `<!DOCTYPE html>\n<html><head><title>chaos ${seed}</title></head>\n<body>\n${'<p>porta chaos</p>\n'.repeat(rng.int(1, 200))}</body></html>\n`,
  );
  put(root, 'index.html', indexBytes);

  const script = (name: string, text: string) => put(root, `cgi-bin/${name}`, text, 0o755);
  script('hello.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n");
  script('big.sh', `#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat '${bigPath}'\n`);
  script('echo.sh', "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n");

  const nphBody = Buffer.from(
    Array.from({ length: rng.int(50, 200) }, (_, i) => `line ${i} of the nph body, seed ${seed}\n`).join(''),
  );
  const nphPath = join(root, 'data', 'nph-body.txt');
  put(root, 'data/nph-body.txt', nphBody);
  const nphHead = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${nphBody.length}\r\nConnection: close\r\n\r\n`;
  script(
    'nph-chaos.sh',
    `#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: ${nphBody.length}\\r\\nConnection: close\\r\\n\\r\\n'\nexec cat '${nphPath}'\n`,
  );

  const python = existsSync('/usr/bin/python3');
  if (python) {
    script(
      'echo.py',
      '#!/usr/bin/python3\nimport os, sys\n' +
        "n = int(os.environ.get('CONTENT_LENGTH') or 0)\n" +
        "data = sys.stdin.buffer.read(n) if n else b''\n" +
        "sys.stdout.buffer.write(b'Content-Type: application/octet-stream\\r\\n\\r\\n' + data)\n",
    );
  }

  return {
    root,
    small,
    large,
    ranges,
    index: { url: '/', bytes: indexBytes },
    listingUrl: '/list/',
    listedNames,
    hello: {
      url: '/cgi-bin/hello.sh',
      header: Buffer.from('Content-Type: text/plain\n\n'),
      body: Buffer.from('hello\n'),
    },
    big: { url: '/cgi-bin/big.sh', header: Buffer.from('Content-Type: application/octet-stream\n\n'), body: bigData },
    echo: {
      url: '/cgi-bin/echo.sh',
      header: Buffer.from('Content-Type: application/octet-stream\n\n'),
      body: Buffer.alloc(0),
    },
    pyEcho: python
      ? {
          url: '/cgi-bin/echo.py',
          header: Buffer.from('Content-Type: application/octet-stream\r\n\r\n'),
          body: Buffer.alloc(0),
        }
      : null,
    nph: { url: '/cgi-bin/nph-chaos.sh', header: Buffer.from(nphHead), body: nphBody },
    spool,
    remove: () => {
      rmSync(root, { recursive: true, force: true });
      rmSync(spool, { recursive: true, force: true });
    },
  };
}
