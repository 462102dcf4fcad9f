// HTTPS with a real client: a certificate made here with openssl, curl
// checking it with --cacert. The same connection state machine and parser run
// on the decrypted stream; CGI answers through a pipe (the socket is
// encrypted, a program cannot write to it), nph- scripts are refused, and a
// plaintext request to the TLS port is closed without harm. openssl and curl
// come from `make test-deps`; without them this test fails and says so.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { rawRequest, selfSignedCertificate, startPorta, tempDir } from '../helpers/porta';

function have(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
}

/** curl, asynchronously: the server under test runs in this very process. */
function curl(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['--silent', '--show-error', '--max-time', '10', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('latin1');
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

t.test('HTTPS, end to end with curl', async (t) => {
  if (!have('openssl') || !have('curl')) {
    t.fail('openssl and curl are needed (make test-deps installs them from Debian)');
    return;
  }
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const { cert, key } = selfSignedCertificate(dir);
  const root = join(dir, 'site');
  mkdirSync(join(root, 'cgi-bin'), { recursive: true });
  chmodSync(root, 0o755);
  chmodSync(join(root, 'cgi-bin'), 0o755);
  writeFileSync(join(root, 'digits.txt'), '0123456789');
  const script = (name: string, body: string): void => {
    writeFileSync(join(root, 'cgi-bin', name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(root, 'cgi-bin', name), 0o755);
  };
  script('status.sh', "printf 'Status: 418 Teapot\\nContent-Type: text/plain\\n\\nteapot\\n'");
  script('echo.sh', "printf 'Content-Type: text/plain\\n\\n'; cat");
  script('env.sh', 'printf \'Content-Type: text/plain\\n\\n%s %s %s\\n\' "$HTTPS" "$REQUEST_SCHEME" "$PORTA_CGI_MODE"');
  script('nph-raw.sh', "printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nplain bytes\\n'");
  // Socket mode asked for: over TLS porta uses the pipe anyway.
  const s = await startPorta(t, { root, cgiStdout: 'socket', tls: { cert, key, passwordFile: null } });
  const base = `https://localhost:${s.port}`;
  const ca = ['--cacert', cert, '--resolve', `localhost:${s.port}:127.0.0.1`];

  const file = await curl([...ca, `${base}/digits.txt`]);
  t.equal(file.status, 0, `curl verified the certificate: ${file.stderr}`);
  t.equal(file.stdout, '0123456789', 'a static file');

  const range = await curl([...ca, '-i', '-H', 'Range: bytes=2-4', `${base}/digits.txt`]);
  t.match(range.stdout, /^HTTP\/1\.1 206 Partial Content\r\n/);
  t.ok(range.stdout.endsWith('\r\n\r\n234'), 'a range');

  const teapot = await curl([...ca, '-i', `${base}/cgi-bin/status.sh`]);
  t.match(teapot.stdout, /^HTTP\/1\.1 418 /, "a program's Status: works: CGI runs through the pipe over TLS");
  t.ok(teapot.stdout.endsWith('teapot\n'));

  const post = await curl([...ca, '--data-binary', 'body over TLS', `${base}/cgi-bin/echo.sh`]);
  t.equal(post.stdout, 'body over TLS', 'a POST reaches the program');

  const twice = await curl([...ca, '-v', `${base}/digits.txt`, `${base}/cgi-bin/status.sh`]);
  t.match(
    twice.stderr,
    /Re-using existing connection|Reusing existing connection/i,
    'keep-alive over TLS: one connection',
  );
  t.equal(twice.stdout, '0123456789teapot\n');

  const nph = await curl([...ca, '-i', `${base}/cgi-bin/nph-raw.sh`]);
  t.match(nph.stdout, /^HTTP\/1\.1 500 /, 'an nph- script is refused over TLS');
  t.notMatch(nph.stdout, /plain bytes/, 'never a plaintext byte on a TLS connection');
  t.match(s.logs(), /nph- scripts cannot run over HTTPS/);

  // TLS 1.2 with forward secrecy and AEAD only: static RSA and CBC suites are refused, ECDHE-GCM is served.
  const tls12 = ['--tlsv1.2', '--tls-max', '1.2'];
  const weak = await curl([...ca, ...tls12, '--ciphers', 'AES128-SHA:AES128-GCM-SHA256', `${base}/digits.txt`]);
  t.not(weak.status, 0, `a suite without forward secrecy is refused: ${weak.stderr.trim()}`);
  const strong = await curl([...ca, ...tls12, '--ciphers', 'ECDHE-RSA-AES128-GCM-SHA256', `${base}/digits.txt`]);
  t.equal(strong.stdout, '0123456789', `ECDHE with GCM over TLS 1.2: ${strong.stderr.trim()}`);
  t.equal((await curl([...ca, '--tls-max', '1.1', `${base}/digits.txt`])).status !== 0, true, 'TLS 1.1: refused');

  const plain = await rawRequest(s.port, 'GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 3000 });
  t.ok(plain.closed, 'a plaintext request to the TLS port is closed');
  t.notMatch(plain.data.toString('latin1'), /0123456789/);
  t.equal((await curl([...ca, `${base}/digits.txt`])).stdout, '0123456789', 'and the server goes on');

  const env = await curl([...ca, `${base}/cgi-bin/env.sh`]);
  t.equal(env.stdout, 'on https pipe\n', 'programs are told: HTTPS=on, REQUEST_SCHEME=https, PORTA_CGI_MODE=pipe');

  // A handshake begun and abandoned (a byte of a ClientHello, then FIN) is cut
  // at --header-timeout (regression: both ends stayed open, porta's in
  // CLOSE-WAIT, for minutes: 600 such clients took a worker from 22 fds to 624).
  const quick = await startPorta(t, { root, tls: { cert, key, passwordFile: null }, limits: { headerTimeoutMs: 300 } });
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 10; i++) {
    const socket = connect(quick.port, '127.0.0.1', () => socket.end(Buffer.from([0x16])));
    socket.on('error', () => undefined);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.ok(
    fds() <= before + 2,
    `abandoned handshakes closed at the head's deadline (${before} fds before, ${fds()} after)`,
  );
  const qbase = `https://localhost:${quick.port}`;
  const qca = ['--cacert', cert, '--resolve', `localhost:${quick.port}:127.0.0.1`];
  t.equal((await curl([...qca, `${qbase}/digits.txt`])).stdout, '0123456789', 'a completed handshake is untouched');

  // Handshakes under way hold fds as connections do: they count against
  // --max-connections (they used to be bounded by the deadline alone), until
  // they fail, succeed, or reach the head's deadline.
  const few = await startPorta(t, {
    root,
    tls: { cert, key, passwordFile: null },
    limits: { maxConnections: 4, headerTimeoutMs: 1000 },
  });
  const fbase = `https://localhost:${few.port}`;
  const fca = ['--cacert', cert, '--resolve', `localhost:${few.port}:127.0.0.1`];
  const open = (first: string | null): Promise<ReturnType<typeof connect>> =>
    new Promise((resolve) => {
      const socket = connect(few.port, '127.0.0.1', () => {
        if (first !== null) socket.write(first);
        resolve(socket);
      });
      socket.on('error', () => undefined);
    });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const silent = await Promise.all(Array.from({ length: 4 }, () => open(null)));
  await pause(100);
  const refused = await curl([...fca, `${fbase}/digits.txt`]);
  t.not(refused.stdout, '0123456789', 'four silent handshakes under way: a fifth connection is refused');
  for (const socket of silent) socket.destroy(); // porta, half-open, learns nothing of it
  await pause(1300);
  t.equal((await curl([...fca, `${fbase}/digits.txt`])).stdout, '0123456789', 'their places are free at the deadline');
  // Failed handshakes (plaintext to the TLS port) give their places back at once, not at the deadline.
  const failed = await Promise.all(Array.from({ length: 4 }, () => open('GET / HTTP/1.1\r\nHost: x\r\n\r\n')));
  await pause(150);
  t.equal((await curl([...fca, `${fbase}/digits.txt`])).stdout, '0123456789', 'four failed handshakes: served at once');
  for (const socket of failed) socket.destroy();
});
