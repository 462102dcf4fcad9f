// The swap from `python3 -m http.server --cgi` is one word: the same scripts
// answer the same bytes under porta (socket mode, the design both share: the
// program writes to the client) as under Python 3.11's CGIHTTPRequestHandler,
// the status line and each server's own Date/Server/Connection lines aside.
// Python's server comes from /usr/bin/python3, which still has it (3.11).
// (One difference is on purpose and not compared: Python invents
// CONTENT_TYPE=text/plain for a request without a body; RFC 3875 §4.1.3
// says it has no default, and porta leaves it unset.)

import t from 'tap';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { rawRequest, sleep, startPorta, tempDir } from '../helpers/porta';

const HTML = join(__dirname, '..', '..', '..', 'html');
const PYTHON = '/usr/bin/python3';

const CLASSIC = `#!/usr/bin/python3
# A classic CGI script: what it needs comes from the environment and stdin.
import os, sys
n = int(os.environ.get('CONTENT_LENGTH') or 0)
body = sys.stdin.read(n) if n else ''
print('Content-Type: text/plain')
print()
print('method', os.environ['REQUEST_METHOD'])
print('query', os.environ.get('QUERY_STRING', ''))
print('length', n)
print('body', body)
print('script', os.environ.get('SCRIPT_NAME'))
print('path', os.environ.get('PATH_INFO', ''))
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

/** The program's bytes: what follows the status line and the server's own Date/Server/Connection lines. */
function programOutput(data: Buffer): string {
  const lines = data.toString('latin1').split('\r\n');
  lines.shift(); // the status line
  while (lines.length > 0 && /^(Date|Server|Connection): /i.test(lines[0] as string)) lines.shift();
  return lines.join('\r\n');
}

const REQUESTS: Array<[string, string]> = [
  ['the sign-up form (GET)', 'GET /cgi-bin/cadastro.py HTTP/1.0\r\n\r\n'],
  [
    'a complete sign-up (POST, urlencoded)',
    'POST /cgi-bin/cadastro.py HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 67\r\n\r\n' +
      'nome=Ana+Maria&email=ana%40example.org&linguagem=python&plano=gratis',
  ],
  [
    'an incomplete one (POST)',
    'POST /cgi-bin/cadastro.py HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nnome=Ana+',
  ],
  ['a classic script with a query', 'GET /cgi-bin/classic.py?a=1&b=two HTTP/1.0\r\n\r\n'],
  [
    'a classic script with a body',
    'POST /cgi-bin/classic.py HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello there',
  ],
];

t.test(`the same scripts, the same bytes as ${PYTHON} -m http.server --cgi`, async (t) => {
  const probe = spawnSync(PYTHON, ['-c', 'import http.server; http.server.CGIHTTPRequestHandler']);
  if (probe.status !== 0) {
    t.fail(`${PYTHON} has no CGIHTTPRequestHandler (it is gone from 3.15): nothing to compare with`);
    return;
  }
  const { dir, remove } = tempDir();
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'));
  chmodSync(join(dir, 'cgi-bin'), 0o755);
  cpSync(join(HTML, 'cgi-bin', 'cadastro.py'), join(dir, 'cgi-bin', 'cadastro.py'));
  writeFileSync(join(dir, 'cgi-bin', 'classic.py'), CLASSIC);
  chmodSync(join(dir, 'cgi-bin', 'classic.py'), 0o755);

  const port = await freePort();
  const python: ChildProcess = spawn(PYTHON, ['-m', 'http.server', '--cgi', '--bind', '127.0.0.1', String(port)], {
    cwd: dir,
    stdio: 'ignore',
  });
  t.teardown(() => {
    python.kill('SIGKILL');
  });
  await waitForPort(port);
  const porta = await startPorta(t, { root: dir, cgiStdout: 'socket' });

  for (const [name, request] of REQUESTS) {
    const fromPython = (await rawRequest(port, request, { timeoutMs: 10_000 })).data;
    const fromPorta = (await rawRequest(porta.port, request, { timeoutMs: 10_000 })).data;
    t.match(fromPython.toString('latin1'), /^HTTP\/1\.0 200 Script output follows\r\n/, `${name}: Python answered`);
    t.match(fromPorta.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/, `${name}: porta answered`);
    t.equal(programOutput(fromPorta), programOutput(fromPython), `${name}: the program's bytes are the same`);
  }
});
