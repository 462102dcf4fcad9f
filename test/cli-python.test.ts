// Python's command line, run for real: `porta [--cgi] [-b ADDR] [-d DIR]
// [-p VERSION] [port]` does what `python3 -m http.server` did, in the same
// folder, with porta's defaults where they are better (loopback, ./html).
// And start-up problems are one line and exit 1; Ctrl-C exits 0.

import t, { type Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseResponses, rawRequest, sleep, tempDir } from './helpers/porta';

const CLI = join(__dirname, '..', 'src', 'cli.js');

interface Porta {
  child: ChildProcess;
  banner: string;
  port: number;
  stdout(): string;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** porta with `args`, in folder `cwd`; resolves once it printed its banner (or exited). */
async function porta(t: Test, args: string[], cwd: string): Promise<Porta> {
  const child = spawn(process.execPath, [CLI, '--quiet', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let done = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  t.teardown(async () => {
    if (!done) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  const deadline = Date.now() + 10_000;
  while (!/programs started via|CGI off/.test(stdout) && !done && Date.now() < deadline) await sleep(20);
  const port = Number(/on port (\d+)/.exec(stdout)?.[1] ?? 0);
  return { child, banner: stdout, port, stdout: () => stdout, stderr: () => stderr, exit };
}

async function get(port: number, target: string, host = '127.0.0.1', extra = ''): Promise<Buffer> {
  const { data } = await rawRequest(
    port,
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`,
    {
      timeoutMs: 5000,
    },
  );
  return data;
}

function site(t: Test, withHtml: boolean): string {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const root = withHtml ? join(dir, 'html') : dir;
  mkdirSync(join(root, 'cgi-bin'), { recursive: true });
  chmodSync(root, 0o755);
  chmodSync(join(root, 'cgi-bin'), 0o755);
  writeFileSync(join(root, 'index.html'), withHtml ? 'from html/\n' : 'from the folder itself\n');
  writeFileSync(join(root, 'cgi-bin', 'hi.sh'), "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nran\\n'\n");
  chmodSync(join(root, 'cgi-bin', 'hi.sh'), 0o755);
  return realpathSync(dir);
}

t.test('no flags but a port, from a folder with html/: serves ./html, on loopback', async (t) => {
  const dir = site(t, true);
  const p = await porta(t, ['0'], dir);
  t.match(
    p.banner,
    new RegExp(`serving ${join(dir, 'html')} on port ${p.port}`),
    'the banner says which folder and port',
  );
  t.match(p.banner, /address 127\.0\.0\.1/, 'and the address');
  t.match(p.banner, new RegExp(`http://127\\.0\\.0\\.1:${p.port}/`), 'and a URL to click');
  t.match(p.banner, /this machine only: -b 0\.0\.0\.0/, 'and how to serve the network');
  t.match(
    p.banner,
    /run as \S+; socket mode: .*Status: and Location: arrive as plain header lines/,
    'and what the CGI mode means',
  );
  t.ok((await get(p.port, '/')).toString().endsWith('from html/\n'));
  t.ok((await get(p.port, '/cgi-bin/hi.sh')).toString().endsWith('\n\nran\n'), 'CGI runs by default');
  p.child.kill('SIGTERM');
  t.equal((await p.exit).code, 0);
});

t.test('from a folder without html/: serves the folder itself', async (t) => {
  const dir = site(t, false);
  const p = await porta(t, ['0'], dir);
  t.match(p.banner, new RegExp(`serving ${dir} on port`));
  t.ok((await get(p.port, '/')).toString().endsWith('from the folder itself\n'));
});

t.test('-d / --directory, -b / --bind, --cgi and --no-cgi', async (t) => {
  const dir = site(t, true);
  const elsewhere = site(t, false);
  const d = await porta(t, ['-d', join(dir, 'html'), '--cgi', '-b', '127.0.0.1', '0'], elsewhere);
  t.match(
    d.banner,
    new RegExp(`serving ${join(dir, 'html')} on port ${d.port}, address 127\\.0\\.0\\.1\\n`),
    'that folder, that address alone',
  );
  t.ok((await get(d.port, '/')).toString().endsWith('from html/\n'));
  const long = await porta(t, ['--directory', join(dir, 'html'), '--bind', '127.0.0.1', '--port', '0'], elsewhere);
  t.ok((await get(long.port, '/')).toString().endsWith('from html/\n'), 'the long forms');
  const off = await porta(t, ['--no-cgi', '0'], dir);
  t.match(off.banner, /CGI off/);
  const source = (await get(off.port, '/cgi-bin/hi.sh')).toString();
  t.ok(
    source.endsWith("printf 'Content-Type: text/plain\\n\\nran\\n'\n"),
    '--no-cgi: a pure static server (the file, not its output)',
  );
});

t.test('-b with the wildcard address: the network, said so', async (t) => {
  const dir = site(t, true);
  const p = await porta(t, ['-b', '0.0.0.0', '0'], dir);
  t.match(p.banner, /address 0\.0\.0\.0/);
  t.notMatch(p.banner, /this machine only/);
  t.ok((await get(p.port, '/')).toString().endsWith('from html/\n'));
});

t.test('-p HTTP/1.0 answers as HTTP/1.0 and closes every connection', async (t) => {
  const dir = site(t, true);
  const p = await porta(t, ['-p', 'HTTP/1.0', '0'], dir);
  t.match(p.banner, /answering as HTTP\/1\.0/);
  const { data, closed } = await rawRequest(
    p.port,
    'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
    { timeoutMs: 5000 },
  );
  const responses = parseResponses(data);
  t.equal(responses.length, 1, 'one answer, though two were asked for');
  t.equal(responses[0]?.statusLine, 'HTTP/1.0 200 OK');
  t.equal(responses[0]?.headers['connection'], 'close');
  t.ok(closed);
  const cgi = (await get(p.port, '/cgi-bin/hi.sh')).toString('latin1');
  t.match(cgi, /^HTTP\/1\.0 200 OK\r\n/, 'socket-mode CGI too');
});

t.test('start-up problems: one line on stderr, exit 1, no stack', async (t) => {
  const dir = site(t, true);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const address = blocker.address();
  const taken = typeof address === 'object' && address !== null ? address.port : 0;
  const inUse = await porta(t, ['-b', '127.0.0.1', String(taken)], dir);
  const used = await inUse.exit;
  t.equal(used.code, 1, 'a port in use: exit 1');
  t.equal(
    inUse.stderr(),
    `porta: port ${taken} is in use; try another number (porta ${taken + 1}, or --port ${taken + 1})\n`,
  );
  t.equal(inUse.stdout(), '', 'no banner');
  const missing = await porta(t, ['-d', 'no-such-folder', '0'], dir);
  t.equal((await missing.exit).code, 1, 'a missing folder: exit 1');
  t.equal(missing.stderr(), "porta: folder 'no-such-folder' not found: give one with -d/--root\n");
  const file = await porta(t, ['-d', 'html/index.html', '0'], dir);
  t.equal((await file.exit).code, 1, 'a file for a folder: exit 1');
  t.equal(file.stderr(), "porta: 'html/index.html' is not a folder: give one with -d/--root\n");
  const header = await porta(t, ['--cache-control', 'no-cache\r\nX-Injected: 1', '0'], dir);
  t.equal(
    (await header.exit).code,
    2,
    'a --cache-control that is no header value: a usage error at start-up (exit 2, as every bad flag)',
  );
  t.match(header.stderr(), /^porta: --cache-control takes a header value[^\n]*\n(Try[^\n]*\n)?$/);
  const badCert = await porta(t, ['--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.pem', '0'], dir);
  t.equal((await badCert.exit).code, 1, 'a certificate that cannot be read: exit 1');
  t.equal(badCert.stderr(), 'porta: cannot read --tls-cert /nonexistent.pem: ENOENT\n');
});

t.test('Ctrl-C: a last line, exit 0', async (t) => {
  const dir = site(t, true);
  const p = await porta(t, ['0'], dir);
  p.child.kill('SIGINT');
  const { code } = await p.exit;
  t.equal(code, 0);
  t.match(p.stdout(), /Keyboard interrupt received, exiting\.\n$/);
});
