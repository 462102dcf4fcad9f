// Seeing what porta does (issue 8), over real processes (node build/src/cli.js):
// the access log in its three formats, line by line, with µs times that are
// integers and a CGI program's own time where one ran; SIGUSR1 reopening the
// logs after logrotate renamed them (two workers, no line lost or misplaced);
// --error-log taking a program's stderr; the status page (numbers that move,
// a slow program seen running, every worker listed, HTML, who may see it);
// and --trust-proxy end to end, from a trusted peer and from one that is not
// (127.0.0.2: Linux routes all of 127/8 to lo).

import t, { type Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Log } from '../../src/log';
import { type ParsedResponse, parseResponses, sleep, tempDir } from '../helpers/porta';

const CLI = join(__dirname, '..', '..', 'src', 'cli.js');
const HELLO = 'hello, log\n';

// ---- a site, a server, a client ----------------------------------------------------

interface Site {
  dir: string;
  /** A file in a folder of its own (the logs), removed with the site. */
  file(name: string): string;
}

/** A served folder: hello.txt and three programs (CGI runs as nobody: everything world-readable). */
function makeSite(t: Test): Site {
  const { dir, remove } = tempDir('porta-observe-');
  t.teardown(remove);
  const root = join(dir, 'site');
  const logs = join(dir, 'logs');
  mkdirSync(join(root, 'cgi-bin'), { recursive: true, mode: 0o755 });
  mkdirSync(logs, { mode: 0o755 });
  writeFileSync(join(root, 'hello.txt'), HELLO, { mode: 0o644 });
  // REMOTE_ADDR and REMOTE_PORT, as the program was given them.
  writeFileSync(
    join(root, 'cgi-bin', 'addr.sh'),
    '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s %s\\n" "$REMOTE_ADDR" "$REMOTE_PORT"\n',
    { mode: 0o755 },
  );
  // Sleeps QUERY_STRING seconds (default 0.05), says so on stderr, then answers.
  writeFileSync(
    join(root, 'cgi-bin', 'slow.py'),
    '#!/usr/bin/python3\nimport os, sys, time\n' +
      "time.sleep(float(os.environ.get('QUERY_STRING') or '0.05'))\n" +
      "sys.stderr.write('slow.py: slept\\n')\n" +
      "sys.stdout.write('Content-Type: text/plain\\r\\n\\r\\nslept\\n')\n",
    { mode: 0o755 },
  );
  // One stderr line naming its QUERY_STRING.
  writeFileSync(
    join(root, 'cgi-bin', 'err.sh'),
    '#!/bin/sh\necho "err.sh says $QUERY_STRING" >&2\nprintf "Content-Type: text/plain\\r\\n\\r\\nok\\n"\n',
    { mode: 0o755 },
  );
  return { dir: root, file: (name) => join(logs, name) };
}

interface Cli {
  port: number;
  /** The primary's pid. */
  pid: number;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Everything on stdout after the start-up banner (the access log, with --access-log -). */
  afterBanner(): string;
}

/** `node build/src/cli.js -d root -b 127.0.0.1 --port 0 …args`, killed when `t` ends. */
async function startCli(t: Test, root: string, args: string[]): Promise<Cli> {
  // Without NODE_OPTIONS: under tap it carries the runner's --import hooks, no business of a server's.
  const { NODE_OPTIONS: _, ...env } = process.env;
  const child = spawn(process.execPath, [CLI, '-d', root, '-b', '127.0.0.1', '--port', '0', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let alive = true;
  const exited = new Promise<void>((resolve) =>
    child.on('close', () => {
      alive = false;
      resolve();
    }),
  );
  t.teardown(async () => {
    if (alive) child.kill('SIGKILL');
    await exited;
    if (!t.passing()) process.stderr.write(`--- porta ${args.join(' ')} ---\n${stdout}${stderr}---\n`);
  });
  // The banner is one write, ending with the line about workers and signals.
  const deadline = Date.now() + 10_000;
  while (!/SIGUSR1 reopens logs\n/.test(stdout) && alive && Date.now() < deadline) await sleep(20);
  const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout)?.[1] ?? Number.NaN);
  if (!Number.isInteger(port)) throw new Error(`porta did not start: ${stdout} ${stderr}`);
  const bannerLength = stdout.indexOf('SIGUSR1 reopens logs\n') + 'SIGUSR1 reopens logs\n'.length;
  return {
    port,
    pid: child.pid ?? 0,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    afterBanner: () => stdout.slice(bannerLength),
  };
}

interface Ask {
  method?: string;
  headers?: Array<[string, string]>;
  /** The client's own address (another loopback one is another peer). */
  localAddress?: string;
  /** Bytes before the request (a PROXY header). */
  before?: string | Buffer;
}

/** Bytes over one connection; everything back until the server closes. */
function exchangeBytes(port: number, bytes: Buffer, localAddress = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 10 s: ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

/** One request with Connection: close; its response. */
async function ask(port: number, target: string, options: Ask = {}): Promise<ParsedResponse> {
  const method = options.method ?? 'GET';
  const fields = (options.headers ?? []).map(([n, v]) => `${n}: ${v}\r\n`).join('');
  const head = Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: x\r\n${fields}Connection: close\r\n\r\n`, 'latin1');
  const before = options.before === undefined ? Buffer.alloc(0) : Buffer.from(options.before);
  const data = await exchangeBytes(port, Buffer.concat([before, head]), options.localAddress);
  const [response] = parseResponses(data, [method === 'HEAD']);
  if (response === undefined) throw new Error(`no answer to ${method} ${target}`);
  return response;
}

interface StatusReport {
  uptimeSeconds: number;
  totals: WorkerNumbers;
  workers: Array<WorkerNumbers & { pid: number; startedAt: number; uptimeSeconds: number }>;
}
interface WorkerNumbers {
  accepted: number;
  refused: number;
  requests: number;
  rate: number;
  states: Record<string, number>;
  cgiRunning: number;
  cgiQueued: number;
}

const STATUS = '/.porta/status';

async function status(port: number): Promise<StatusReport> {
  const r = await ask(port, `${STATUS}?format=json`);
  if (r.status !== 200) throw new Error(`status page: ${r.statusLine}`);
  return JSON.parse(r.body.toString('utf8')) as StatusReport;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function lines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** What the test sends to get lines in every format: a file, a 404, a HEAD, a program, and garbage. */
async function sendTheUsual(port: number): Promise<void> {
  const r1 = await ask(port, '/hello.txt', {
    headers: [
      ['Referer', 'http://example.com/"q"'],
      // Bytes past ASCII: a UTF-8 "é" (C3 A9), then a lone latin1 one (E9).
      ['User-Agent', 'porta-test \\ ua caf\u00c3\u00a9 \u00e9'],
    ],
  });
  if (r1.status !== 200) throw new Error(`hello.txt: ${r1.statusLine}`);
  if ((await ask(port, '/missing.txt')).status !== 404) throw new Error('missing.txt was not 404');
  if ((await ask(port, '/hello.txt', { method: 'HEAD' })).status !== 200) throw new Error('HEAD failed');
  const cgi = await ask(port, '/cgi-bin/slow.py');
  if (cgi.body.toString().trim() !== 'slept') throw new Error(`slow.py: ${JSON.stringify(cgi.body.toString())}`);
  // No request line at all: answered 400, logged with "-" for it.
  const garbage = await exchangeBytes(port, Buffer.from('\x01\x02\r\n\r\n', 'latin1'));
  if (!garbage.toString('latin1').startsWith('HTTP/1.1 400 ')) throw new Error('garbage was not answered 400');
}

/** A CLF time ([10/Oct/2000:13:55:36 +0000]) is within a minute of now. */
function recentClf(t: Test, stamp: string): void {
  const m = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000$/.exec(stamp);
  t.ok(m, `a CLF time: ${stamp}`);
  if (m === null) return;
  const [, day, month, year, hh, mm, ss] = m;
  const when = Date.parse(`${day} ${month} ${year} ${hh}:${mm}:${ss} GMT`);
  t.ok(Math.abs(Date.now() - when) < 60_000, `${stamp} is now`);
}

// ---- the access log ----------------------------------------------------------------

t.test('Log, in this process: the exact line of each format', async (t) => {
  const written: string[] = [];
  const sink = { access: (text: string) => void written.push(text), error: () => undefined };
  const request = {
    method: 'GET',
    target: '/a?b="c"',
    protocol: 'HTTP/1.1',
    startedAt: performance.now() - 1.5, // 1500 µs ago
    // Bytes as the parser reads them (latin1): a UTF-8 "é" (C3 A9), a lone E9, a DEL, a tab.
    header: (name: string) => (name === 'user-agent' ? 'caf\u00c3\u00a9 \u00e9\x7f\t' : undefined),
  };
  const entry = { client: '192.0.2.1', request, status: 200, bytes: 0, upstreamUs: 1234 };
  const lineOf = (format: 'common' | 'combined' | 'json'): string => {
    const log = new Log(true, format, sink);
    log.access(entry);
    log.flush();
    return written.pop() ?? '';
  };
  const combined = lineOf('combined');
  t.match(combined, /^192\.0\.2\.1 - - \[[^\]]+\] "GET \/a\?b=\\x22c\\x22 HTTP\/1\.1" 200 - "-" "/);
  t.match(
    combined,
    / "caf\\xc3\\xa9 \\xe9\\x7f\\x09" \d+ 1234\n$/,
    'every byte past ASCII and every control byte as \\xhh',
  );
  const us = Number(/ (\d+) 1234\n$/.exec(combined)?.[1]);
  t.ok(us >= 1500 && us < 1_000_000, `the request time in µs: ${us}`);
  t.match(lineOf('common'), /"GET \/a\?b=\\x22c\\x22 HTTP\/1\.1" 200 - \d+ 1234\n$/);
  const json = JSON.parse(lineOf('json')) as Record<string, unknown>;
  t.match(json, { client: '192.0.2.1', target: '/a?b="c"', bytes: 0, upstream_us: 1234, referer: null });
  // Not UTF-8 (the lone E9): every byte past ASCII and every control byte as \xhh, as in CLF
  // (regression: the latin1 characters went out as UTF-8, "é" logged as "Ã©").
  t.equal(json['user_agent'], 'caf\\xc3\\xa9 \\xe9\\x7f\\x09');
  const utf8 = {
    ...entry,
    request: { ...request, header: (n: string) => (n === 'referer' ? 'caf\u00c3\u00a9' : undefined) },
  };
  const utf8Log = new Log(true, 'json', sink);
  utf8Log.access(utf8);
  utf8Log.flush();
  t.equal(
    (JSON.parse(written.pop() ?? '{}') as Record<string, unknown>)['referer'],
    'café',
    'UTF-8 is logged as its text',
  );
  // A socket-mode program's answer: porta never saw its bytes.
  const unknown = new Log(true, 'json', sink);
  unknown.access({ ...entry, bytes: null });
  unknown.flush();
  t.equal((JSON.parse(written.pop() ?? '{}') as Record<string, unknown>)['bytes'], null, 'bytes unknown: null, not 0');
  const unknownClf = new Log(true, 'common', sink);
  unknownClf.access({ ...entry, bytes: null });
  unknownClf.flush();
  t.match(written.pop(), /" 200 - \d+ 1234\n$/, 'and "-" in CLF');
  // No request line: "-", no times but zero.
  const log = new Log(true, 'common', sink);
  log.access({ client: '192.0.2.1', request: null, status: 400, bytes: 12, upstreamUs: null });
  log.flush();
  t.match(written.pop(), /^192\.0\.2\.1 - - \[[^\]]+\] "-" 400 12 0 -\n$/);
  // Batched: nothing written until the tick ends (or 16 KiB wait).
  log.access(entry);
  t.equal(written.length, 0, 'buffered');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(written.length, 1, 'flushed at the end of the tick');
  t.equal(log.answers, 2);
});

const CLF_LINE =
  /^(\S+) - - \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")? (\d+) (\d+|-)$/;

interface ClfEntry {
  client: string;
  time: string;
  request: string;
  status: number;
  bytes: string;
  referer: string | undefined;
  userAgent: string | undefined;
  requestUs: number;
  upstream: string;
}

function parseClf(t: Test, line: string, combined: boolean): ClfEntry | null {
  const m = CLF_LINE.exec(line);
  t.ok(m, `a ${combined ? 'combined' : 'common'} line: ${line}`);
  if (m === null) return null;
  t.equal(m[6] !== undefined, combined, combined ? 'referer and user-agent present' : 'no referer, no user-agent');
  return {
    client: m[1] ?? '',
    time: m[2] ?? '',
    request: m[3] ?? '',
    status: Number(m[4]),
    bytes: m[5] ?? '',
    referer: m[6],
    userAgent: m[7],
    requestUs: Number(m[8]),
    upstream: m[9] ?? '',
  };
}

/** The µs fields of the five lines sendTheUsual makes: static "-", the program's ≥ 50 ms and within the request's. */
function checkTimes(t: Test, entries: Array<{ requestUs: number; upstream: number | null; what: string }>): void {
  for (const e of entries) {
    t.ok(Number.isSafeInteger(e.requestUs) && e.requestUs >= 0, `${e.what}: request time ${e.requestUs} µs`);
    t.ok(e.requestUs < 10_000_000, `${e.what}: request time under 10 s`);
  }
  const [hello, missing, head, cgi, garbage] = entries;
  for (const e of [hello, missing, head, garbage]) t.equal(e?.upstream, null, `${e?.what}: no program, no time`);
  const up = cgi?.upstream ?? -1;
  t.ok(Number.isSafeInteger(up), `the program's time is an integer: ${up}`);
  t.ok(up >= 50_000, `the program slept 50 ms: ${up} µs`);
  t.ok(up < 5_000_000, `and did not take 5 s: ${up} µs`);
  t.ok(up <= (cgi?.requestUs ?? 0), `within the request's ${cgi?.requestUs} µs`);
}

t.test('access log, common format, on stdout (--access-log -)', async (t) => {
  const site = makeSite(t);
  const server = await startCli(t, site.dir, ['--access-log', '-']);
  await sendTheUsual(server.port);
  await waitFor('5 log lines', () => server.afterBanner().split('\n').length > 5);
  const all = server.afterBanner().split('\n').slice(0, -1);
  t.equal(all.length, 5, 'one line per answer, nothing else');
  const entries = all.map((line) => parseClf(t, line, false));
  const [, missing, , cgi, garbage] = entries;
  t.strictSame(
    entries.map((e) => [e?.client, e?.request, e?.status, e?.bytes]),
    [
      ['127.0.0.1', 'GET /hello.txt HTTP/1.1', 200, String(HELLO.length)],
      ['127.0.0.1', 'GET /missing.txt HTTP/1.1', 404, missing?.bytes],
      ['127.0.0.1', 'HEAD /hello.txt HTTP/1.1', 200, '-'],
      ['127.0.0.1', 'GET /cgi-bin/slow.py HTTP/1.1', 200, cgi?.bytes],
      ['127.0.0.1', '-', 400, garbage?.bytes],
    ],
  );
  t.match(missing?.bytes, /^[1-9]\d*$/, 'the 404 page has a size');
  t.match(garbage?.bytes, /^[1-9]\d*$/, 'so has the 400 page');
  for (const e of entries) if (e !== null) recentClf(t, e.time);
  checkTimes(
    t,
    entries.map((e, i) => ({
      requestUs: e?.requestUs ?? -1,
      upstream: e?.upstream === '-' ? null : Number(e?.upstream),
      what: ['hello', 'missing', 'head', 'cgi', 'garbage'][i] ?? '',
    })),
  );
  // The status page is off by default: its path is an ordinary (missing) file.
  t.equal((await ask(server.port, STATUS)).status, 404, 'no --status-path: 404');
  t.equal((await ask(server.port, `${STATUS}?format=json`)).status, 404);
});

t.test('access log, combined format, to a file', async (t) => {
  const site = makeSite(t);
  const log = site.file('access.log');
  const server = await startCli(t, site.dir, ['--access-log', log, '--log-format', 'combined']);
  await sendTheUsual(server.port);
  await waitFor('5 log lines', () => lines(log).length >= 5);
  const all = lines(log);
  t.equal(all.length, 5);
  t.equal(server.afterBanner(), '', 'nothing on stdout: the log is in its file');
  const entries = all.map((line) => parseClf(t, line, true));
  // Quotes and backslashes escaped, so a field cannot end early or forge one.
  t.equal(entries[0]?.referer, 'http://example.com/\\x22q\\x22');
  t.equal(entries[0]?.userAgent, 'porta-test \\x5c ua caf\\xc3\\xa9 \\xe9', 'each byte past ASCII as \\xhh');
  t.ok(/^[\x20-\x7e\n]*$/.test(readFileSync(log, 'latin1')), 'the log is printable ASCII');
  t.equal(entries[1]?.referer, '-', 'no Referer: "-"');
  t.equal(entries[4]?.userAgent, '-', 'no request: "-"');
  t.equal(entries[0]?.bytes, String(HELLO.length));
  t.strictSame(
    entries.map((e) => e?.status),
    [200, 404, 200, 200, 400],
  );
  checkTimes(
    t,
    entries.map((e, i) => ({
      requestUs: e?.requestUs ?? -1,
      upstream: e?.upstream === '-' ? null : Number(e?.upstream),
      what: String(i),
    })),
  );
});

const JSON_FIELDS = [
  'time',
  'client',
  'method',
  'target',
  'protocol',
  'status',
  'bytes',
  'request_us',
  'upstream_us',
  'referer',
  'user_agent',
];

t.test('access log, json, and --error-log taking a program stderr', async (t) => {
  const site = makeSite(t);
  const log = site.file('access.json');
  const errors = site.file('error.log');
  const server = await startCli(t, site.dir, ['--access-log', log, '--log-format', 'json', '--error-log', errors]);
  await sendTheUsual(server.port);
  await waitFor('5 log lines', () => lines(log).length >= 5);
  const entries = lines(log).map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      t.fail(`not JSON: ${line}`);
      return {};
    }
  });
  t.equal(entries.length, 5);
  for (const e of entries) {
    t.strictSame(Object.keys(e), JSON_FIELDS, 'the fields, in order');
    t.ok(Math.abs(Date.now() - Date.parse(String(e['time']))) < 60_000, `time ${String(e['time'])} is now`);
    t.match(e['time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.equal(e['client'], '127.0.0.1');
    t.type(e['status'], 'number');
  }
  const [hello, missing, head, cgi, garbage] = entries;
  t.match(hello, {
    method: 'GET',
    target: '/hello.txt',
    protocol: 'HTTP/1.1',
    status: 200,
    bytes: HELLO.length,
    referer: 'http://example.com/"q"', // JSON escapes for itself: the value as sent
    // Not UTF-8 (a lone E9 after a UTF-8 "é"): escaped as the CLF line has it (bytes past ASCII,
    // controls, quotes and the backslash as \xhh), so that "\xe9" is never ambiguous.
    user_agent: 'porta-test \\x5c ua caf\\xc3\\xa9 \\xe9',
  });
  t.match(missing, { method: 'GET', target: '/missing.txt', status: 404, referer: null, user_agent: null });
  t.match(head, { method: 'HEAD', status: 200, bytes: 0 });
  t.match(cgi, { method: 'GET', target: '/cgi-bin/slow.py', status: 200 });
  t.equal(cgi?.['bytes'], null, 'a socket-mode program wrote its answer itself: its size is unknown, null');
  for (const e of [hello, missing, head, garbage]) t.type(e?.['bytes'], 'number');
  t.match(garbage, { method: null, target: null, protocol: null, status: 400, referer: null, user_agent: null });
  checkTimes(
    t,
    entries.map((e, i) => ({
      requestUs: e['request_us'] as number,
      upstream: e['upstream_us'] as number | null,
      what: String(i),
    })),
  );

  // The program's stderr line went to --error-log, and not to stderr.
  await waitFor('the error line', () => lines(errors).some((l) => l.includes('slow.py: slept')));
  const line = lines(errors).find((l) => l.includes('slow.py: slept')) ?? '';
  t.match(
    line,
    /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] 127\.0\.0\.1:\d+ "GET \/cgi-bin\/slow\.py": \/cgi-bin\/slow\.py: slow\.py: slept$/,
  );
  t.match(lines(errors).join('\n'), /400/, 'the garbage request is an error too');
  t.notMatch(server.stderr(), /slept/, 'nothing of it on stderr');
});

t.test('--quiet: no access log at all', async (t) => {
  const site = makeSite(t);
  const log = site.file('access.log');
  const server = await startCli(t, site.dir, ['--quiet', '--access-log', log]);
  t.equal((await ask(server.port, '/hello.txt')).status, 200);
  await sleep(100);
  t.equal(lines(log).length, 0);
  t.equal(server.afterBanner(), '');
});

// ---- SIGUSR1: reopen ---------------------------------------------------------------

t.test('SIGUSR1 reopens the logs in every worker (logrotate)', async (t) => {
  const site = makeSite(t);
  const log = site.file('access.log');
  const errors = site.file('error.log');
  // Round-robin: the primary deals connections in turn, so both workers serve before and after.
  const server = await startCli(t, site.dir, [
    '--workers',
    '2',
    '--balance',
    'round-robin',
    '--access-log',
    log,
    '--error-log',
    errors,
    '--log-format',
    'json',
    '--status-path',
    STATUS,
  ]);
  const targets = (file: string): string[] =>
    lines(file).map((l) => String((JSON.parse(l) as { target: unknown }).target));
  const round = async (name: string): Promise<string[]> => {
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const target = `/hello.txt?${name}-${i}`;
      t.equal((await ask(server.port, target)).status, 200);
      sent.push(target);
    }
    for (let i = 0; i < 2; i++) {
      const target = `/cgi-bin/err.sh?${name}-${i}`;
      t.equal((await ask(server.port, target)).status, 200);
      sent.push(target);
    }
    return sent;
  };

  const before = await round('before');
  const first = await status(server.port);
  before.push(`${STATUS}?format=json`);
  t.equal(first.workers.length, 2, 'two workers');
  await waitFor('the first lines', () => lines(log).length === before.length && lines(errors).length >= 2);

  // logrotate: move the files away, then SIGUSR1 to the primary.
  renameSync(log, `${log}.1`);
  renameSync(errors, `${errors}.1`);
  process.kill(server.pid, 'SIGUSR1');
  await waitFor('the logs reopened', () => existsSync(log) && existsSync(errors));
  await sleep(300); // the second worker's reopen (one IPC message) is done long before this
  t.equal(statSync(log).size, 0, 'the new access log starts empty');

  const after = await round('after');
  const second = await status(server.port);
  after.push(`${STATUS}?format=json`);
  await waitFor('the new lines', () => lines(log).length >= after.length);
  await sleep(100);

  t.strictSame(targets(`${log}.1`).sort(), [...before].sort(), 'the old file: the old lines, all of them, only them');
  t.strictSame(targets(log).sort(), [...after].sort(), 'the new file: the new lines, all of them');
  const oldErrors = lines(`${errors}.1`).join('\n');
  const newErrors = lines(errors).join('\n');
  t.match(
    oldErrors,
    /err\.sh says before-0[\s\S]*err\.sh says before-1|err\.sh says before-1[\s\S]*err\.sh says before-0/,
  );
  t.notMatch(oldErrors, /after/);
  t.match(newErrors, /err\.sh says after-0/);
  t.match(newErrors, /err\.sh says after-1/);
  t.notMatch(newErrors, /before/);

  // The same two workers served on both sides of the signal: each of them reopened.
  t.strictSame(
    second.workers.map((w) => w.pid),
    first.workers.map((w) => w.pid),
    'no worker was replaced',
  );
  for (const w of second.workers) {
    const was = first.workers.find((f) => f.pid === w.pid)?.requests ?? Number.NaN;
    t.ok(w.requests - was >= 5, `worker ${w.pid} answered after the reopen (${was} → ${w.requests})`);
  }
  t.equal(server.child.exitCode, null, 'the primary is still running');
});

// ---- the status page ---------------------------------------------------------------

t.test('the status page', async (t) => {
  const site = makeSite(t);
  // Pipe mode: a program's connection stays porta's ('responding'), not handed to the program.
  const server = await startCli(t, site.dir, ['--quiet', '--status-path', STATUS, '--cgi-stdout', 'pipe']);
  const port = server.port;

  t.test('JSON numbers move', async (t) => {
    const a = await status(port);
    t.equal(a.workers.length, 1);
    t.ok(Number.isInteger(a.uptimeSeconds) && a.uptimeSeconds >= 0);
    const [w] = a.workers;
    t.not(w?.pid, server.pid, 'a worker, not the primary');
    t.match(
      readFileSync(`/proc/${w?.pid}/stat`, 'latin1'),
      new RegExp(`^\\d+ \\(.*\\) \\w ${server.pid} `),
      "the primary's child",
    );
    for (let i = 0; i < 5; i++) t.equal((await ask(port, '/hello.txt')).status, 200);
    const b = await status(port);
    t.equal(b.totals.requests, a.totals.requests + 6, 'five answers and the first status page');
    t.equal(b.totals.accepted, a.totals.accepted + 6, 'six more connections');
    t.equal(b.totals.refused, 0);
    t.strictSame(b.workers[0]?.requests, b.totals.requests, 'one worker: its numbers are the totals');
    t.strictSame(b.totals.states, { responding: 1 }, 'only the status request itself is in flight');
    t.equal(b.totals.cgiRunning, 0);
    t.equal(b.totals.cgiQueued, 0);
  });

  t.test('a slow program: running, its connection responding, an idle one idle', async (t) => {
    const slow = ask(port, '/cgi-bin/slow.py?1.5');
    const idle = await new Promise<Socket>((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
    });
    t.teardown(() => void idle.destroy());
    // A head that has begun and not ended.
    const half = await new Promise<Socket>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write('GET /hello.txt HTTP/1.1\r\nHo');
        resolve(s);
      });
    });
    t.teardown(() => void half.destroy());
    let seen: StatusReport | null = null;
    await waitFor('the program running', async () => {
      seen = await status(port);
      return seen.totals.cgiRunning === 1;
    });
    const during = seen as StatusReport | null;
    t.equal(during?.totals.cgiRunning, 1);
    t.equal(during?.workers[0]?.cgiRunning, 1);
    t.equal(during?.totals.cgiQueued, 0);
    t.strictSame(
      during?.totals.states,
      { idle: 1, readingHead: 1, responding: 2 },
      "the program's and the status page's, the idle one, the half head",
    );
    const page = await ask(port, STATUS);
    t.equal(page.status, 200);
    t.match(page.headers['content-type'], /^text\/html/);
    const html = page.body.toString('utf8');
    t.match(html, /<table/);
    t.match(html, /idle 1, readingHead 1, responding 2/, 'connections by the state machine names');
    t.match(html, /CGI programs running 1, queued 0/);
    t.equal((await slow).body.toString(), 'slept\n');
    idle.destroy();
    half.destroy();
    await waitFor('the program gone', async () => (await status(port)).totals.cgiRunning === 0);
    t.strictSame((await status(port)).totals.states, { responding: 1 });
  });

  t.test('HEAD, other methods, the query, caching', async (t) => {
    const get = await ask(port, STATUS);
    t.equal(get.headers['cache-control'], 'no-store');
    const head = await ask(port, STATUS, { method: 'HEAD' });
    t.equal(head.status, 200);
    t.equal(head.body.length, 0, 'HEAD: no body');
    t.match(head.headers['content-type'], /^text\/html/);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await ask(port, STATUS, { method, headers: [['Content-Length', '0']] });
      t.equal(r.status, 405, `${method}: 405`);
      t.equal(r.headers['allow'], 'GET, HEAD');
    }
    const json = await ask(port, `${STATUS}?x=1&format=json`);
    t.match(json.headers['content-type'], /^application\/json/);
    t.doesNotThrow(() => JSON.parse(json.body.toString()));
    t.match(
      (await ask(port, `${STATUS}?format=jsonp`)).headers['content-type'],
      /^text\/html/,
      'format=jsonp is not json',
    );
    t.equal((await ask(port, `${STATUS}/more`)).status, 404, 'only the path itself');
  });

  t.test('the fields, and a rate that moves', async (t) => {
    // Answers a second, from one sample a second: a second sample is due by now, or soon.
    let report = await status(port);
    await waitFor('a rate', async () => {
      report = await status(port);
      return report.totals.rate > 0;
    });
    t.ok(report.totals.rate > 0 && report.totals.rate < 1000, `rate ${report.totals.rate}`);
    t.strictSame(Object.keys(report).sort(), ['totals', 'uptimeSeconds', 'workers']);
    const numbers = ['accepted', 'cgiQueued', 'cgiRunning', 'rate', 'refused', 'requests'];
    t.strictSame(Object.keys(report.totals).sort(), [...numbers, 'states'].sort());
    const worker = report.workers[0] ?? {};
    t.strictSame(Object.keys(worker).sort(), [...numbers, 'pid', 'startedAt', 'states', 'uptimeSeconds'].sort());
    for (const n of numbers) t.type((worker as Record<string, unknown>)[n], 'number', n);
    t.equal(report.workers[0]?.rate, report.totals.rate);
  });

  t.test('127.0.0.2 is loopback too', async (t) => {
    t.equal((await ask(port, STATUS, { localAddress: '127.0.0.2' })).status, 200);
  });
});

t.test('the status page lists every worker (--workers 2)', async (t) => {
  const site = makeSite(t);
  const server = await startCli(t, site.dir, ['--quiet', '--status-path', STATUS, '--workers', '2']);
  const report = await status(server.port);
  t.equal(report.workers.length, 2);
  const pids = report.workers.map((w) => w.pid);
  t.equal(new Set(pids).size, 2, 'two processes');
  for (const pid of pids) {
    t.not(pid, server.pid);
    t.match(
      readFileSync(`/proc/${pid}/stat`, 'latin1'),
      new RegExp(`^${pid} \\(.*\\) \\w ${server.pid} `),
      'a child of the primary',
    );
  }
  t.equal(
    report.totals.accepted,
    report.workers.reduce((n, w) => n + w.accepted, 0),
    'the totals add the workers up',
  );
  const html = (await ask(server.port, STATUS)).body.toString('utf8');
  for (const pid of pids) t.match(html, new RegExp(`<tr><td>${pid}</td>`), `the HTML has a row for ${pid}`);
});

t.test('the status page: refused connections and queued programs', async (t) => {
  const site = makeSite(t);
  const server = await startCli(t, site.dir, [
    '--quiet',
    '--status-path',
    STATUS,
    '--cgi-stdout',
    'pipe',
    '--cgi-max',
    '1',
    '--max-connections',
    '4',
  ]);
  const port = server.port;
  // Two programs for one slot: one runs, one waits.
  const first = ask(port, '/cgi-bin/slow.py?1');
  const second = ask(port, '/cgi-bin/slow.py?0.1');
  let seen: StatusReport | null = null;
  await waitFor('one running, one queued', async () => {
    seen = await status(port);
    return seen.totals.cgiRunning === 1 && seen.totals.cgiQueued === 1;
  });
  const during = seen as StatusReport | null;
  t.equal(during?.workers[0]?.cgiQueued, 1);
  t.equal(during?.totals.refused, 0);
  // Two programs' connections and two idle ones: the fifth is refused.
  const open = (): Promise<Socket> =>
    new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', () => undefined);
    });
  const idle = await open();
  const spare = await open();
  t.teardown(() => {
    idle.destroy();
    spare.destroy();
  });
  const fifth = await open();
  await new Promise<void>((resolve) => {
    fifth.on('close', () => resolve());
    setTimeout(() => resolve(), 2000);
  });
  t.ok(fifth.destroyed, 'the fifth connection was closed');
  // On a busy machine an earlier status request's connection may still be
  // closing when these open: then `spare` is refused too. Each refused one is
  // counted, no more.
  const refused = [idle, spare, fifth].filter((s) => s.destroyed).length;
  spare.destroy();
  await sleep(100);
  const after = await status(port);
  t.equal(after.totals.refused, refused, `${refused} refused, as the clients saw`);
  t.equal(after.workers[0]?.refused, refused);
  t.equal((await first).body.toString(), 'slept\n');
  t.equal((await second).body.toString(), 'slept\n');
});

function proxyLine(address: string): string {
  return `PROXY TCP4 ${address} 198.51.100.2 40000 443\r\n`;
}

t.test('the status page by the PROXY header peer: 403 for 203.0.113.7', async (t) => {
  const site = makeSite(t);
  const server = await startCli(t, site.dir, [
    '--quiet',
    '--status-path',
    STATUS,
    '--proxy-protocol',
    '--trust-proxy',
    '127.0.0.1,203.0.113.0/24',
  ]);
  const port = server.port;
  const far = await ask(port, STATUS, { before: proxyLine('203.0.113.7') });
  t.equal(far.status, 403, 'a peer that is not loopback');
  t.equal((await ask(port, `${STATUS}?format=json`, { before: proxyLine('203.0.113.7') })).status, 403);
  t.equal((await ask(port, STATUS, { before: proxyLine('203.0.113.7'), method: 'POST' })).status, 403, '403 first');
  // 203.0.113.7 is a trusted proxy here, so its X-Forwarded-For names the client (the program sees it)…
  const xff: Ask = { before: proxyLine('203.0.113.7'), headers: [['X-Forwarded-For', '127.0.0.1']] };
  t.equal((await ask(port, '/cgi-bin/addr.sh', xff)).body.toString().split(' ')[0], '127.0.0.1');
  // …and the page goes by that client, as porta believes it: a trusted proxy vouches for it.
  t.equal((await ask(port, STATUS, xff)).status, 200, 'a trusted proxy forwarding a loopback client opens it');
  t.equal((await ask(port, STATUS, { before: proxyLine('127.0.0.5') })).status, 200, 'a PROXY-named loopback peer');
  t.equal((await ask(port, STATUS, { before: 'PROXY UNKNOWN\r\n' })).status, 200, 'UNKNOWN keeps the real peer');
});

t.test('--status-allow 203.0.113.0/24 opens it to that range only', async (t) => {
  const site = makeSite(t);
  const server = await startCli(t, site.dir, [
    '--quiet',
    '--status-path',
    STATUS,
    '--status-allow',
    '203.0.113.0/24',
    '--proxy-protocol',
    '--trust-proxy',
    '127.0.0.1',
  ]);
  const r = await ask(server.port, `${STATUS}?format=json`, { before: proxyLine('203.0.113.7') });
  t.equal(r.status, 200);
  t.equal((JSON.parse(r.body.toString()) as StatusReport).workers.length, 1);
  t.equal((await ask(server.port, STATUS, { before: proxyLine('203.0.114.7') })).status, 403, 'next door: 403');
  t.equal((await ask(server.port, STATUS, { before: proxyLine('127.0.0.1') })).status, 200, 'loopback still');
});

t.test('behind a trusted proxy on this machine, the status page goes by the forwarded client', async (t) => {
  // nginx in front on the same machine: every peer is 127.0.0.1, so the peer
  // alone would open the page to the whole network.
  const site = makeSite(t);
  const server = await startCli(t, site.dir, ['--quiet', '--status-path', STATUS, '--trust-proxy', '127.0.0.1']);
  const remote = await ask(server.port, STATUS, { headers: [['X-Forwarded-For', '203.0.113.9']] });
  t.equal(remote.status, 403, 'a remote client forwarded by the trusted proxy: 403');
  const local = await ask(server.port, STATUS, { headers: [['X-Forwarded-For', '127.0.0.1']] });
  t.equal(local.status, 200, 'a local client through it: 200');
  const forged = await ask(server.port, STATUS, {
    localAddress: '127.0.0.2',
    headers: [['X-Forwarded-For', '127.0.0.1']],
  });
  t.equal(forged.status, 200, 'an untrusted loopback peer is itself loopback (its header ignored)');
  const chain = await ask(server.port, STATUS, { headers: [['X-Forwarded-For', '127.0.0.1, 203.0.113.9']] });
  t.equal(chain.status, 403, 'a client that writes 127.0.0.1 itself stays on the left: 403');
});

// ---- --trust-proxy end to end ------------------------------------------------------

interface JsonLine {
  client: string;
  target: string;
}

t.test('--trust-proxy 127.0.0.1: X-Forwarded-For and Forwarded name the client', async (t) => {
  const site = makeSite(t);
  const log = site.file('access.json');
  const server = await startCli(t, site.dir, [
    '--access-log',
    log,
    '--log-format',
    'json',
    '--trust-proxy',
    '127.0.0.1',
  ]);
  const port = server.port;
  const remote = async (options: Ask, target: string): Promise<string> =>
    (await ask(port, `/cgi-bin/addr.sh?${target}`, options)).body.toString().trim().split(' ')[0] ?? '';
  const cases: Array<[string, Ask, string]> = [
    ['xff', { headers: [['X-Forwarded-For', '203.0.113.50, 198.51.100.9']] }, '198.51.100.9'],
    ['xff-chain', { headers: [['X-Forwarded-For', '198.51.100.9, 127.0.0.1']] }, '198.51.100.9'],
    ['forwarded', { headers: [['Forwarded', 'for="[2001:db8::9]:4711";proto=http']] }, '2001:db8::9'],
    ['none', {}, '127.0.0.1'],
    ['untrusted', { headers: [['X-Forwarded-For', '198.51.100.9']], localAddress: '127.0.0.2' }, '127.0.0.2'],
    ['garbage', { headers: [['X-Forwarded-For', 'not-an-address']] }, '127.0.0.1'],
    ['mapped', { headers: [['X-Forwarded-For', '::ffff:198.51.100.10']] }, '198.51.100.10'],
    // The proxy's own element has no for=: the client's "for=6.6.6.6" left of it is not believed.
    ['no-for', { headers: [['Forwarded', 'for=6.6.6.6, proto=https']] }, '127.0.0.1'],
  ];
  for (const [name, options, expected] of cases) t.equal(await remote(options, name), expected, `${name}: REMOTE_ADDR`);
  await waitFor('the log lines', () => lines(log).length >= cases.length);
  const logged = lines(log).map((l) => JSON.parse(l) as JsonLine);
  t.strictSame(
    logged.map((e) => [e.target, e.client]),
    cases.map(([name, , expected]) => [`/cgi-bin/addr.sh?${name}`, expected]),
    "the log's client is the same",
  );
});

t.test('--trust-proxy 10.0.0.0/8: a loopback peer is not trusted', async (t) => {
  const site = makeSite(t);
  const log = site.file('access.log');
  const server = await startCli(t, site.dir, ['--access-log', log, '--trust-proxy', '10.0.0.0/8']);
  const r = await ask(server.port, '/cgi-bin/addr.sh', { headers: [['X-Forwarded-For', '198.51.100.9']] });
  t.equal(r.body.toString().split(' ')[0], '127.0.0.1', 'REMOTE_ADDR is the peer');
  const f = await ask(server.port, '/cgi-bin/addr.sh', { headers: [['Forwarded', 'for=198.51.100.9']] });
  t.equal(f.body.toString().split(' ')[0], '127.0.0.1');
  await waitFor('the log lines', () => lines(log).length >= 2);
  for (const line of lines(log)) t.match(line, /^127\.0\.0\.1 - - \[/, 'the log says the peer');
  t.notMatch(lines(log).join('\n'), /198\.51\.100\.9/);
});
