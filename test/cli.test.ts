// The command-line contract (issue 2): `node build/src/cli.js --port P --root DIR
// --host 127.0.0.1` serves; --help lists every flag; --version names porta,
// Node and llhttp; bad flags exit 2; one Common Log Format line per request on
// stdout unless --quiet; SIGTERM exits 0. Runs the real program as a child.

import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommandLine } from '../src/cli';
import { openSocket, parseResponses, rawRequest, sleep } from './helpers/porta';

const REPO = join(__dirname, '..', '..');
const CLI = join(REPO, 'build', 'src', 'cli.js');
const SITE = 'test/fixtures/site';
const HELLO = readFileSync(join(REPO, SITE, 'hello.txt'), 'latin1');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** Every flag issue 2 and the lead's brief name, and every one src/cli.ts declares. */
const REQUIRED_FLAGS = [
  '--port',
  '--root',
  '--host',
  '--parser',
  '--quiet',
  '--header-timeout',
  '--keepalive-timeout',
  '--cgi-dir',
  '--cgi-stdout',
  '--help',
  '--version',
];
function declaredFlags(): string[] {
  const source = readFileSync(join(REPO, 'src', 'cli', 'args.ts'), 'utf8');
  const block = /options:\s*\{([\s\S]*?)\n\s*\},\n\s*\}\);/.exec(source)?.[1] ?? '';
  return [...block.matchAll(/'?([a-z][a-z-]*)'?\s*:\s*\{\s*type:/g)].map((m) => `--${m[1] ?? ''}`);
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs = 10_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`porta ${args.join(' ')} did not exit`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Running {
  child: ChildProcess;
  port: number;
  firstLine: string;
  /** Everything porta printed on start-up (it prints it in one write). */
  banner: string;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, and the way it ended. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function start(t: Test, args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [CLI, '--port', '0', '--host', '127.0.0.1', '--root', SITE, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  t.teardown(async () => {
    if (exited === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  const deadline = Date.now() + 10_000;
  while (!/\n/.test(stdout) && exited === null && Date.now() < deadline) await sleep(20);
  const firstLine = stdout.split('\n')[0] ?? '';
  const banner = stdout;
  const port = Number(/port (\d+)/.exec(firstLine)?.[1] ?? NaN);
  if (!Number.isInteger(port) || port <= 0)
    throw new Error(`no listening line: ${JSON.stringify(stdout)} ${JSON.stringify(stderr)}`);
  return {
    child,
    port,
    firstLine,
    banner,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Common Log Format, then the request's time in µs and the program's ("-": none ran). */
const CLF =
  /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/hello\.txt HTTP\/1\.1" 200 (\d+) (\d+) -$/m;

t.test('--help exits 0 and lists every flag', async (t) => {
  const r = await run(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Usage: porta/);
  const flags = new Set([...REQUIRED_FLAGS, ...declaredFlags()]);
  t.ok(declaredFlags().length >= 20, `flags read from src/cli/args.ts: ${declaredFlags().length}`);
  // A flag starts its line, after its short form or the positional it stands for ("-d, --directory").
  for (const flag of flags)
    t.match(r.stdout, new RegExp(`^\\s+(?:-\\w, |port, )?${flag}\\b`, 'm'), `${flag} is described`);
});

t.test('every flag --help lists is accepted', async (t) => {
  const help = (await run(['--help'])).stdout;
  const samples: Record<string, string[]> = {
    '--root': ['html'],
    '--directory': ['html'],
    '--host': ['127.0.0.1'],
    '--bind': ['127.0.0.1'],
    '--protocol': ['HTTP/1.0'],
    '--tls-cert': ['c.pem', '--tls-key', 'k.pem'],
    '--tls-key': ['k.pem', '--tls-cert', 'c.pem'],
    '--cache-control': ['no-store'],
    '--port': ['0'],
    '--parser': ['native'],
    '--cgi-stdout': ['pipe'],
    '--cgi-spawn': ['child_process'],
    '--cgi-interpreter': ['.py=/usr/bin/python3'],
    '--cgi-dir': ['/cgi'],
    '--cgi-ext': ['.cgi'],
    '--cgi-pass-env': ['PATH'],
    '--max-header-size': ['4096'],
    '--max-url': ['1024'],
    '--max-body': ['1000'],
    '--workers': ['auto'],
    '--balance': ['round-robin'],
    '--config': ['/dev/null'],
    '--log-format': ['json'],
    '--status-path': ['/.porta/status'],
    '--status-allow': ['10.0.0.0/8'],
    '--trust-proxy': ['10.0.0.0/8,::1'],
    '--proxy-protocol': [],
    '--trace-format': ['json'],
  };
  for (const m of help.matchAll(/^\s+(?:-\w, |port, )?(--[a-z-]+)( \S+)?/gm)) {
    const flag = m[1] ?? '';
    const takesValue = m[2] !== undefined;
    const args = [flag, ...(takesValue ? (samples[flag] ?? ['2']) : [])];
    if (flag === '--proxy-protocol') args.push('--trust-proxy', '127.0.0.1'); // it needs someone to trust
    let result: ReturnType<typeof parseCommandLine> | Error;
    try {
      result = parseCommandLine(args);
    } catch (err) {
      result = err as Error;
    }
    t.notOk(
      result instanceof Error,
      `${args.join(' ')} is accepted${result instanceof Error ? `: ${result.message}` : ''}`,
    );
  }
});

t.test('durations are given in seconds', async (t) => {
  const s = parseCommandLine(['--header-timeout', '0.3', '--keepalive-timeout', '2', '--body-timeout', '1.5']);
  if (s.kind !== 'serve') return t.fail('settings expected');
  t.equal(s.settings.limits.headerTimeoutMs, 300);
  t.equal(s.settings.limits.keepAliveTimeoutMs, 2000);
  t.equal(s.settings.limits.bodyTimeoutMs, 1500);
  const cgi = parseCommandLine(['--cgi-dir', 'scripts/', '--cgi-stdout', 'pipe']);
  if (cgi.kind !== 'serve') return t.fail('settings expected');
  t.same(cgi.settings.cgiDirs, ['/scripts']);
  t.equal(cgi.settings.cgiStdout, 'pipe');
});

t.test('--version names porta, Node and llhttp', async (t) => {
  const r = await run(['--version']);
  t.equal(r.code, 0);
  t.match(r.stdout, new RegExp(`porta\\D*${VERSION.replace(/\./g, '\\.')}`), `porta ${VERSION}`);
  t.ok(r.stdout.includes(process.version), `Node ${process.version}`);
  t.match(r.stdout, /llhttp/i);
  const llhttp = process.versions['llhttp'];
  if (llhttp !== undefined) t.ok(r.stdout.includes(llhttp), `Node's llhttp ${llhttp}`);
  const undici = (
    JSON.parse(readFileSync(join(REPO, 'node_modules', 'undici', 'package.json'), 'utf8')) as { version: string }
  ).version;
  t.ok(r.stdout.includes(undici), `the wasm build is named by its undici ${undici}`);
});

t.test('bad command lines exit 2 with a message on stderr', async (t) => {
  for (const args of [
    ['--no-such-flag'],
    ['--port', 'abc'],
    ['--port', '70000'],
    ['--parser', 'fast'],
    ['--header-timeout', '0'],
    ['--cgi-stdout', 'file'],
    ['--root'],
  ]) {
    const r = await run(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /porta/, `${args.join(' ')}: says why on stderr`);
    t.equal(r.stdout, '', 'nothing on stdout');
  }
});

for (const parser of ['wasm', 'native'] as const) {
  t.test(`--parser ${parser}: listens, serves, logs one CLF line, and SIGTERM exits 0`, async (t) => {
    const porta = await start(t, ['--parser', parser]);
    t.match(porta.firstLine, /127\.0\.0\.1/, 'the listening line names the address');
    t.match(porta.firstLine, new RegExp(`port ${porta.port}\\b`), 'and the port');
    t.match(porta.firstLine, /test\/fixtures\/site/, 'and the directory');
    t.match(porta.banner, new RegExp(`llhttp ${parser}`), 'the banner names the llhttp build in use');
    const { data } = await rawRequest(porta.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = parseResponses(data);
    t.equal(r?.status, 200);
    t.equal(r?.body.toString('latin1'), HELLO);
    t.ok(await waitFor(() => CLF.test(porta.stdout())), 'a Common Log Format line with the response time');
    const m = CLF.exec(porta.stdout());
    t.equal(m?.[1], String(HELLO.length), 'bytes sent');
    t.ok(Number(m?.[2]) >= 0 && Number(m?.[2]) < 5_000_000, `response time ${m?.[2] ?? ''} µs`);
    const lines = porta
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"GET /hello.txt'));
    t.equal(lines.length, 1, 'exactly one line for one request');
    const bad = await rawRequest(porta.port, 'GARBAGE\r\n\r\n');
    t.match(bad.data.toString('latin1'), /^HTTP\/1\.1 400 /);
    const ended = await porta.stop();
    t.equal(ended.code, 0, 'SIGTERM: exit 0');
    t.equal(ended.signal, null);
  });
}

t.test('--quiet: no access log', async (t) => {
  const porta = await start(t, ['--quiet']);
  const { data } = await rawRequest(porta.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.equal(parseResponses(data)[0]?.status, 200);
  await sleep(300);
  t.equal(porta.stdout(), porta.banner, 'nothing after the banner');
  t.notMatch(porta.stdout(), /GET \/hello\.txt/);
  t.equal((await porta.stop()).code, 0);
});

t.test('SIGTERM with an idle keep-alive connection open still exits 0, promptly', async (t) => {
  const porta = await start(t, ['--quiet']);
  const socket = await openSocket(porta.port);
  t.teardown(() => socket.destroy());
  let closed = false;
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => undefined);
  socket.resume();
  socket.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(100);
  const began = Date.now();
  const ended = await porta.stop();
  t.equal(ended.code, 0);
  t.ok(Date.now() - began < 3000, `exited in ${Date.now() - began} ms`);
  t.ok(await waitFor(() => closed), 'the idle connection was closed');
});

t.test('--header-timeout is in seconds, end to end', async (t) => {
  const porta = await start(t, ['--quiet', '--header-timeout', '0.3']);
  const began = Date.now();
  const { data, closed } = await rawRequest(porta.port, 'GET /hello.txt HTTP/1.1\r\n', { timeoutMs: 3000 });
  t.match(data.toString('latin1'), /^HTTP\/1\.1 408 /);
  t.ok(closed);
  t.ok(Date.now() - began < 2000, `408 after ${Date.now() - began} ms`);
  t.equal((await porta.stop()).code, 0);
});

t.test('--trace prints on stderr, --trace-format json one object a line; --quiet still silences the log', async (t) => {
  for (const format of ['text', 'json'] as const) {
    const running = await start(t, ['--quiet', '--trace-format', format, '--workers', '0']);
    const { data } = await rawRequest(running.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
      timeoutMs: 3000,
    });
    t.equal(parseResponses(data)[0]?.status, 200);
    t.ok(await waitFor(() => /connection closed/.test(running.stderr())), `${format}: the trace reaches the close`);
    const lines = running
      .stderr()
      .split('\n')
      .filter((line) => line !== '');
    if (format === 'text') {
      t.ok(
        lines.every((line) => /^trace\s+[\d.]+ ms\s+conn 1\s+/.test(line)),
        'every line a trace line of conn 1',
      );
      t.ok(
        lines.some((line) => line.includes('state readingHead → responding')),
        'states',
      );
    } else {
      const events = lines.map((line) => JSON.parse(line) as { kind: string; conn: number; data: object });
      t.ok(
        events.every((e) => e.conn === 1),
        'one JSON object a line',
      );
      t.same(
        [...new Set(events.map((e) => e.kind))],
        ['accept', 'read', 'llhttp', 'state', 'dispatch', 'write', 'answer', 'close'],
        'the kinds of a static GET, in order of first appearance',
      );
    }
    t.equal(
      running
        .stdout()
        .split('\n')
        .filter((line) => line.includes('GET /hello.txt')).length,
      0,
      '--quiet',
    );
    await running.stop();
  }
});
