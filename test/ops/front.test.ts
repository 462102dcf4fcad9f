// Issue 8, "Past one machine: behind a real load balancer": the operator's own
// files, deploy/haproxy.cfg and deploy/nginx.conf, run by the real haproxy and
// nginx in front of real porta processes (`node build/src/cli.js`), all on
// loopback. The client connects from 127.0.0.2 (Linux routes all of 127/8 to
// lo), so its address differs from the balancer's own 127.0.0.1 and the test
// can tell whose address porta believed.
//
// HAProxy: two portas with --proxy-protocol --trust-proxy 127.0.0.1, steady
// keep-alive load (static files checked byte for byte, a CGI program printing
// REMOTE_ADDR and SERVER_PORT), one porta SIGKILLed (its whole process group:
// primary, worker and programs, as a machine dying) mid-load.
//   "Marked DOWN" is read from HAProxy's stats socket: `show stat` is polled
//   every 25 ms, and T_down is the moment the first answer saying the killed
//   server is DOWN arrived. HAProxy had marked it before it wrote that answer,
//   so every request this test sends after T_down was accepted by HAProxy
//   after the marking: each of those must succeed, and come from the
//   survivor. The bound asserted on failures: only requests that started
//   before T_down and were still unanswered at the kill may fail, at most one
//   per client (a client has one request in flight), and T_down comes at most
//   3 s after the kill (inter 200ms fall 2 detects it in about 0.4 s; the rest
//   is slack for a busy 2-core machine). HAProxy's own log must also say
//   "Server porta/porta1 is DOWN". (With the same file minus its retries,
//   `retries 0` and `retry-on none`, some 200 of 2,000 requests fail, all
//   inside that window: the assertions do catch failures.)
// Before the load: porta closes, unanswered, a connection without a PROXY
// header or with one from an untrusted peer, and names the client of a
// dual-stack HAProxy (TCP6 ::ffff:127.0.0.2, v2 bytes captured from it) as
// 127.0.0.2. After it: the survivor's access log has every GET from
// 127.0.0.2 and HAProxy's checks (LOCAL headers) from 127.0.0.1.
//
// nginx: one porta with --trust-proxy 127.0.0.1. REMOTE_ADDR and porta's
// access log name 127.0.0.2 (and ::1 for a client on [::1]); a client's own
// X-Forwarded-For: 6.6.6.6 does not choose its address; 60 requests on 60
// client connections reach porta over at most 2 connections (porta's status
// page counts accepted connections and requests); nginx keeps porta's status
// page from non-local clients.
//
// haproxy and nginx come from `make test-deps` (Debian packages); without them
// this test fails and says so. Every process started here runs in a process
// group of its own and is killed, group and all, at the end (and on exit).

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { rawRequest, sleep, tempDir } from '../helpers/porta';

const REPO = join(__dirname, '..', '..', '..');
const CLI = join(REPO, 'build', 'src', 'cli.js');
const HAPROXY_CFG = join(REPO, 'deploy', 'haproxy.cfg');
const NGINX_CONF = join(REPO, 'deploy', 'nginx.conf');
/** The client's address: not the balancer's 127.0.0.1. */
const CLIENT = '127.0.0.2';

// ---- processes ---------------------------------------------------------------

interface Proc {
  child: ChildProcess;
  pid: number;
  out(): string;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole process group; resolves when the leader is gone. */
  killGroup(): Promise<void>;
}

const groups = new Set<number>();
process.once('exit', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
});

/** A program in a process group of its own, stdout and stderr kept together. */
function startGroup(t: Test, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(command, args, { detached: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid ?? -1;
  if (pid > 0) groups.add(pid);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const proc: Proc = {
    child,
    pid,
    out: () => out,
    exit: null,
    exited: new Promise((resolve) => {
      child.on('error', (err) => {
        out += `cannot start ${command}: ${err.message}\n`;
        proc.exit = { code: null, signal: null };
        resolve(proc.exit);
      });
      child.on('exit', (code, signal) => {
        proc.exit = { code, signal };
        resolve(proc.exit);
      });
    }),
    killGroup: async () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
      await proc.exited;
      groups.delete(pid);
    },
  };
  t.teardown(async () => {
    await proc.killGroup();
    if (!t.passing()) process.stderr.write(`--- ${command} ${args.join(' ')} said ---\n${out.slice(-6000)}\n---\n`);
  });
  return proc;
}

/** porta as an operator starts it; its port read from the start banner. */
async function startPorta(t: Test, root: string, args: string[]): Promise<Proc & { port: number }> {
  // Without NODE_OPTIONS: under tap it carries the runner's --import hooks.
  const { NODE_OPTIONS: _, ...env } = process.env;
  const proc = startGroup(t, process.execPath, [CLI, '-d', root, '-b', '127.0.0.1', '--port', '0', ...args], env);
  const deadline = Date.now() + 10_000;
  let port: number | null = null;
  while (port === null && proc.exit === null && Date.now() < deadline) {
    const m = /\bport (\d+)\b/.exec(proc.out().split('\n')[0] ?? '');
    if (m !== null && proc.out().includes('\n')) port = Number(m[1]);
    else await sleep(20);
  }
  if (port === null) throw new Error(`porta printed no port: ${JSON.stringify(proc.out())}`);
  return Object.assign(proc, { port });
}

/** How the process ended, or null if it still runs after `ms`. */
async function exitWithin(proc: Proc, ms: number): Promise<Proc['exit']> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const end = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  return end;
}

function findProgram(name: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (found !== '') return found;
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin']) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** A port free on 127.0.0.1 (and on ::1 when asked) right now. */
async function freePort(ipv6Too = false): Promise<number> {
  const listen = (host: string, port: number): Promise<number | null> =>
    new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(null));
      server.listen(port, host, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : null));
      });
    });
  for (let i = 0; i < 20; i++) {
    const port = await listen('127.0.0.1', 0);
    if (port !== null && (!ipv6Too || (await listen('::1', port)) !== null)) return port;
  }
  throw new Error('no free port');
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

// ---- HTTP clients ------------------------------------------------------------

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One GET from `localAddress`; rejects on any transport error or after 10 s. */
function get(
  port: number,
  path: string,
  options: { agent?: Agent | false; localAddress?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path,
        agent: options.agent ?? false,
        localAddress: options.localAddress ?? CLIENT,
        headers: options.headers ?? {},
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          if (!res.complete) reject(new Error('response cut short'));
          else resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Raw bytes over a connection from `localAddress`; what came back before it closed (or 3 s). */
function rawFrom(
  localAddress: string,
  port: number,
  bytes: string | Buffer,
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, 3000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
  });
}

// ---- the site ----------------------------------------------------------------

const site = tempDir('porta-front-');
t.teardown(site.remove);
const ROOT = join(site.dir, 'site');
mkdirSync(join(ROOT, 'cgi-bin'), { recursive: true });
chmodSync(ROOT, 0o755);
chmodSync(join(ROOT, 'cgi-bin'), 0o755);
const FILES: Record<string, Buffer> = {
  '/index.html': Buffer.from('<!doctype html><title>porta</title><p>behind a balancer</p>\n'),
  '/small.txt': randomBytes(700),
  '/mid.bin': randomBytes(64 * 1024),
  '/big.bin': randomBytes(1024 * 1024),
};
for (const [path, bytes] of Object.entries(FILES)) writeFileSync(join(ROOT, path), bytes);
// REMOTE_ADDR, SERVER_PORT (which porta answered), and the forwarding headers as porta passed them on.
writeFileSync(
  join(ROOT, 'cgi-bin', 'addr.sh'),
  '#!/bin/sh\nprintf \'Content-Type: text/plain\\n\\n%s %s [%s] [%s]\\n\' "$REMOTE_ADDR" "$SERVER_PORT" "$HTTP_X_FORWARDED_FOR" "$HTTP_X_FORWARDED_PROTO"\n',
);
chmodSync(join(ROOT, 'cgi-bin', 'addr.sh'), 0o755);
const CGI = '/cgi-bin/addr.sh';
const CGI_ANSWER = /^(\S+) (\d+) \[([^\]]*)\] \[([^\]]*)\]\n$/;

// ---- HAProxy ------------------------------------------------------------------

interface StatRow {
  svname: string;
  status: string;
  check_status: string;
  [column: string]: string;
}

/** `show stat` over the stats socket, the porta backend's server rows. */
function showStat(socketPath: string): Promise<StatRow[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('stats socket: no answer in 2 s')), 2000);
    socket.on('connect', () => socket.write('show stat\n'));
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const [head = '', ...lines] = text.split('\n');
      const names = head.replace(/^# /, '').split(',');
      const rows: StatRow[] = [];
      for (const line of lines) {
        const cells = line.split(',');
        if (cells[0] !== 'porta' || cells[1] === 'BACKEND') continue;
        const row: Record<string, string> = {};
        names.forEach((name, i) => {
          row[name] = cells[i] ?? '';
        });
        rows.push(row as StatRow);
      }
      resolve(rows);
    });
  });
}

interface Outcome {
  client: number;
  path: string;
  start: number;
  end: number;
  ok: boolean;
  detail: string;
  /** The porta that answered (CGI answers say it). */
  servedBy: number | null;
}

/** Check an answer through the balancer: files byte for byte, the program's REMOTE_ADDR. */
function judge(
  path: string,
  answer: Answer,
  ports: number[],
): { ok: boolean; detail: string; servedBy: number | null } {
  if (answer.status !== 200) return { ok: false, detail: `status ${answer.status}`, servedBy: null };
  if (path === CGI) {
    const m = CGI_ANSWER.exec(answer.body.toString('latin1'));
    if (m === null)
      return { ok: false, detail: `program said ${JSON.stringify(answer.body.toString())}`, servedBy: null };
    const servedBy = Number(m[2]);
    if (m[1] !== CLIENT) return { ok: false, detail: `REMOTE_ADDR ${m[1]}`, servedBy };
    if (!ports.includes(servedBy)) return { ok: false, detail: `SERVER_PORT ${servedBy}`, servedBy };
    return { ok: true, detail: 'ok', servedBy };
  }
  const expected = FILES[path] as Buffer;
  if (!answer.body.equals(expected))
    return { ok: false, detail: `${answer.body.length} bytes, not the file's ${expected.length}`, servedBy: null };
  return { ok: true, detail: 'ok', servedBy: null };
}

t.test('HAProxy (deploy/haproxy.cfg) in front of two portas, one killed under load', async (t) => {
  const haproxy = findProgram('haproxy');
  if (haproxy === null) {
    t.fail('haproxy is needed (make test-deps installs it from Debian)');
    return;
  }
  const dir = join(site.dir, 'haproxy');
  mkdirSync(dir, { mode: 0o755 });
  const survivorLog = join(dir, 'porta2-access.log');
  const trust = ['--proxy-protocol', '--trust-proxy', '127.0.0.1', '--grace', '3'];
  const porta1 = await startPorta(t, ROOT, [...trust, '--quiet']);
  const porta2 = await startPorta(t, ROOT, [...trust, '--access-log', survivorLog]);
  const ports = [porta1.port, porta2.port];

  // porta refuses what does not come from HAProxy: no PROXY header, or one from an untrusted peer.
  const plain = await rawRequest(porta1.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  t.ok(plain.closed && plain.data.length === 0, 'a request without a PROXY header is closed unanswered');
  const forged = await rawFrom(
    CLIENT,
    porta1.port,
    `PROXY TCP4 6.6.6.6 127.0.0.1 4242 80\r\nGET ${CGI} HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  t.ok(forged.closed && forged.data.length === 0, 'a PROXY header from a peer not in --trust-proxy is refused');
  // What HAProxy 2.6 sends when its frontend is dual-stack (`bind :::80 v4v6`) and an IPv4
  // client comes: TCP6 with the client as ::ffff:127.0.0.2 (v2 bytes captured from haproxy,
  // and the v1 line send-proxy writes). porta names that client 127.0.0.2, as it names an
  // IPv4 peer of its own dual-stack socket, not ::ffff:7f00:2.
  const mappedV2 = Buffer.from(
    '0d0a0d0a000d0a515549540a' + // signature
      '21' + // version 2, PROXY
      '21' + // TCP over IPv6
      '0024' + // 36 bytes of addresses
      '00000000000000000000ffff7f000002' + // source ::ffff:127.0.0.2
      '00000000000000000000ffff7f000001' + // destination ::ffff:127.0.0.1
      'add047ea', // ports 44496, 18410
    'hex',
  );
  const mappedV1 = 'PROXY TCP6 ::ffff:127.0.0.2 ::ffff:127.0.0.1 44496 18410\r\n';
  for (const [name, header] of [
    ['v2', mappedV2],
    ['v1', Buffer.from(mappedV1, 'latin1')],
  ] as const) {
    const answer = await rawFrom(
      '127.0.0.1',
      porta1.port,
      Buffer.concat([header, Buffer.from(`GET ${CGI} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)]),
    );
    const said = /^(\S+) \d+ \[[^\]]*\] \[[^\]]*\]$/m.exec(answer.data.toString('latin1'))?.[1];
    t.equal(said, CLIENT, `PROXY ${name} TCP6 ::ffff:127.0.0.2 (a dual-stack HAProxy): REMOTE_ADDR ${CLIENT}`);
  }

  // deploy/haproxy.cfg itself: only its documented variables are set.
  const front = await freePort();
  const stats = join(dir, 'stats.sock');
  const env = {
    ...process.env,
    PORTA_FRONT: `127.0.0.1:${front}`,
    PORTA_SERVER1: `127.0.0.1:${porta1.port}`,
    PORTA_SERVER2: `127.0.0.1:${porta2.port}`,
    PORTA_CHECK_INTER: '200ms',
    PORTA_CHECK_FALL: '2',
    PORTA_CHECK_RISE: '1',
    PORTA_HAPROXY_LOG: 'stdout',
    PORTA_HAPROXY_STATS: stats,
  };
  const ha = startGroup(t, haproxy, ['-db', '-f', HAPROXY_CFG], env);
  const bothUp = await waitUntil(async () => {
    if (ha.exit !== null) return true;
    const rows = await showStat(stats).catch(() => []);
    return rows.length === 2 && rows.every((r) => r.status === 'UP' && r.check_status === 'L7OK');
  }, 10_000);
  if (!bothUp || ha.exit !== null) {
    t.fail(`HAProxy did not report both portas UP: ${ha.out().slice(-2000)}`);
    return;
  }
  t.pass("HAProxy's HTTP checks (HEAD / behind a PROXY v2 header) pass on both portas");

  const first = await get(front, CGI, { headers: { 'X-Forwarded-For': '6.6.6.6' } });
  const m = CGI_ANSWER.exec(first.body.toString('latin1'));
  t.equal(m?.[1], CLIENT, `REMOTE_ADDR is the client's ${CLIENT}, from the PROXY header`);
  t.equal(m?.[3], '', "the client's own X-Forwarded-For goes no further than HAProxy");

  // Steady load: CLIENTS keep-alive clients, each one request at a time.
  const CLIENTS = 6;
  const paths = [CGI, '/small.txt', '/big.bin', CGI, '/mid.bin', '/index.html'];
  const outcomes: Outcome[] = [];
  let stop = false;
  const client = async (n: number): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = n; !stop; i++) {
      const path = paths[i % paths.length] as string;
      const start = performance.now();
      let verdict: { ok: boolean; detail: string; servedBy: number | null };
      try {
        verdict = judge(path, await get(front, path, { agent }), ports);
      } catch (err) {
        verdict = { ok: false, detail: (err as Error).message, servedBy: null };
      }
      outcomes.push({ client: n, path, start, end: performance.now(), ...verdict });
    }
    agent.destroy();
  };

  // The stats socket, polled: when did HAProxy say porta1 was DOWN?
  let downAt: number | null = null;
  let polling = true;
  const states: string[] = [];
  const poller = (async () => {
    while (polling) {
      const rows = await showStat(stats).catch(() => []);
      const now = performance.now();
      const one = rows.find((r) => r.svname === 'porta1');
      if (one !== undefined && states.at(-1) !== one.status) states.push(one.status);
      if (downAt === null && one?.status.startsWith('DOWN') === true) downAt = now;
      await sleep(25);
    }
  })();

  const loadStart = performance.now();
  const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
  // Both portas answer before the kill.
  await waitUntil(
    () =>
      performance.now() - loadStart > 1500 &&
      ports.every((p) => outcomes.some((o) => o.servedBy === p && o.ok)) &&
      outcomes.length > 50,
    10_000,
  );
  const killedAt = performance.now();
  const beforeKill = outcomes.length;
  await porta1.killGroup();
  const detected = await waitUntil(() => downAt !== null, 5000);
  const down = downAt ?? Number.POSITIVE_INFINITY;
  await waitUntil(() => outcomes.filter((o) => o.start > down).length >= 100, 4000);
  await sleep(500);
  stop = true;
  await Promise.all(clients);
  polling = false;
  await poller;

  t.ok(detected, `HAProxy marked the killed porta DOWN (states seen: ${states.join(' → ')})`);
  const window = down - killedAt;
  t.ok(window < 3000, `within 3 s of the kill: ${window.toFixed(0)} ms`);
  t.match(ha.out(), /Server porta\/porta1 is DOWN/, "HAProxy's log says so too");
  t.ok(beforeKill > 50, `${beforeKill} requests answered before the kill`);

  const after = outcomes.filter((o) => o.start > down);
  const afterFailed = after.filter((o) => !o.ok);
  t.ok(after.length >= 50, `${after.length} requests sent after HAProxy marked porta1 DOWN`);
  t.same(
    afterFailed.map((o) => `${o.path}: ${o.detail}`),
    [],
    'every request sent after porta1 was marked DOWN succeeded',
  );
  t.ok(
    after.every((o) => o.path !== CGI || o.servedBy === porta2.port),
    'and every program after it ran on the survivor',
  );
  const failed = outcomes.filter((o) => !o.ok);
  const outside = failed.filter((o) => !(o.start < down && o.end >= killedAt));
  t.same(
    outside.map((o) => `${o.path} at ${(o.start - killedAt).toFixed(0)} ms: ${o.detail}`),
    [],
    'a request failed only if it was in flight at the kill or sent before DOWN',
  );
  t.ok(failed.length <= CLIENTS, `failures ${failed.length} ≤ ${CLIENTS} (one in flight per client at the kill)`);
  const programs = outcomes.filter((o) => o.path === CGI && o.ok);
  t.ok(programs.length > 30, `${programs.length} program answers, each saying REMOTE_ADDR=${CLIENT}`);
  t.comment(
    `${outcomes.length} requests, ${failed.length} failed (${
      failed
        .slice(0, 10)
        .map((o) => `${o.path}: ${o.detail}`)
        .join('; ') || 'none'
    }${failed.length > 10 ? '; …' : ''}), DOWN ${window.toFixed(0)} ms after the kill`,
  );

  // The survivor serves everything at the end.
  const rows = await showStat(stats);
  t.same(
    rows.map((r) => `${r.svname} ${r.status}`),
    ['porta1 DOWN', 'porta2 UP'],
    'HAProxy: porta1 DOWN, porta2 UP',
  );
  for (const path of [...Object.keys(FILES), CGI]) {
    const verdict = judge(path, await get(front, path), ports);
    t.ok(verdict.ok, `${path} through HAProxy at the end: ${verdict.detail}`);
    if (path === CGI) t.equal(verdict.servedBy, porta2.port, 'by the survivor');
  }
  t.equal(ha.exit, null, 'HAProxy is still running');

  // SIGTERM drains and exits 0; its log then names who porta believed.
  process.kill(porta2.pid, 'SIGTERM');
  const end = await exitWithin(porta2, 15_000);
  t.same(end, { code: 0, signal: null }, 'the survivor exits 0 on SIGTERM');
  const log = readFileSync(survivorLog, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const gets = log.filter((l) => l.includes('"GET '));
  t.ok(gets.length > 100, `${gets.length} GETs in the survivor's access log`);
  t.same(
    gets.filter((l) => !l.startsWith(`${CLIENT} `)),
    [],
    `every GET is logged as from ${CLIENT}`,
  );
  t.ok(
    log.some((l) => /^127\.0\.0\.1 .*"HEAD \/ HTTP\/1\.1" 200 /.test(l)),
    "HAProxy's checks (a LOCAL PROXY v2 header) are logged from HAProxy's own 127.0.0.1",
  );
});

// ---- nginx ----------------------------------------------------------------------

/** porta's status page, straight from porta (loopback): connections accepted and requests answered. */
async function portaCounts(port: number): Promise<{ accepted: number; requests: number }> {
  const answer = await get(port, '/.porta/status?format=json', { localAddress: '127.0.0.1' });
  const report = JSON.parse(answer.body.toString('utf8')) as { totals: { accepted: number; requests: number } };
  return { accepted: report.totals.accepted, requests: report.totals.requests };
}

t.test('nginx (deploy/nginx.conf) in front of porta', async (t) => {
  const nginx = findProgram('nginx');
  if (nginx === null) {
    t.fail('nginx is needed (make test-deps installs it from Debian)');
    return;
  }
  const dir = join(site.dir, 'nginx');
  mkdirSync(dir, { mode: 0o755 });
  const accessLog = join(dir, 'porta-access.log');
  const porta = await startPorta(t, ROOT, [
    '--trust-proxy',
    '127.0.0.1',
    '--status-path',
    '/.porta/status',
    '--access-log',
    accessLog,
  ]);

  // deploy/nginx.conf with the three documented substitutions, each of which must match once
  // outside the comments (the header names them too).
  const front = await freePort(true);
  const lines = readFileSync(NGINX_CONF, 'utf8').split('\n');
  for (const [from, to] of [
    ['listen 80;', `listen 127.0.0.1:${front};`],
    ['listen [::]:80;', `listen [::1]:${front};`],
    ['127.0.0.1:8080', `127.0.0.1:${porta.port}`],
  ] as const) {
    const at = lines.flatMap((line, i) => (!line.trimStart().startsWith('#') && line.includes(from) ? [i] : []));
    if (at.length !== 1) {
      t.fail(
        `deploy/nginx.conf must say "${from}" once outside comments (the test substitutes it), found ${at.length}`,
      );
      return;
    }
    const i = at[0] as number;
    lines[i] = (lines[i] as string).replace(from, to);
  }
  const snippet = lines.join('\n');
  writeFileSync(join(dir, 'porta.conf'), snippet);
  // The minimal main config it is meant to be included in (Debian's nginx.conf, cut to the bone).
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      process.getuid?.() === 0 ? 'user root;' : '',
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${dir}/access.log;`,
      `  client_body_temp_path ${dir}/client_body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      `  include ${dir}/porta.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const ng = startGroup(t, nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')]);
  const up = await waitUntil(
    () =>
      ng.exit !== null ||
      get(front, '/index.html').then(
        (a) => a.status === 200,
        () => false,
      ),
    10_000,
  );
  if (!up || ng.exit !== null) {
    const errors = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
    t.fail(`nginx did not answer: ${ng.out()} ${errors}`);
    return;
  }

  // Who the program is told the client is.
  const program = async (headers: Record<string, string>, host = '127.0.0.1', localAddress = CLIENT) => {
    const answer = await get(front, CGI, { headers, host, localAddress });
    return CGI_ANSWER.exec(answer.body.toString('latin1'));
  };
  const plain = await program({});
  t.equal(plain?.[1], CLIENT, `REMOTE_ADDR is the client's ${CLIENT}`);
  t.equal(plain?.[3], CLIENT, 'nginx said so in X-Forwarded-For');
  t.equal(plain?.[4], 'http', 'and X-Forwarded-Proto: http');
  const spoofed = await program({ 'X-Forwarded-For': '6.6.6.6' });
  t.equal(spoofed?.[1], CLIENT, 'a client sending X-Forwarded-For: 6.6.6.6 is still ' + CLIENT);
  t.equal(spoofed?.[3], `6.6.6.6, ${CLIENT}`, 'nginx appended the real address to the made-up one');
  const trusted = await program({ 'X-Forwarded-For': '127.0.0.1' });
  t.equal(trusted?.[1], CLIENT, "naming porta's trusted proxy does not help either");
  const six = await program({}, '::1', '::1');
  t.equal(six?.[1], '::1', 'a client on [::1] is ::1');

  // Keep-alive to porta: 60 requests on 60 client connections, over at most 2 of porta's.
  const before = await portaCounts(porta.port);
  const paths = Object.keys(FILES);
  let good = 0;
  for (let i = 0; i < 60; i++) {
    const path = paths[i % paths.length] as string;
    const verdict = judge(path, await get(front, path), [porta.port]);
    if (verdict.ok) good++;
    else t.fail(`${path} through nginx: ${verdict.detail}`);
  }
  t.equal(good, 60, '60 files through nginx, byte for byte');
  const after = await portaCounts(porta.port);
  t.ok(after.requests - before.requests >= 61, `porta answered ${after.requests - before.requests} requests`);
  // One connection for the status page itself, one (reused) from nginx.
  t.ok(
    after.accepted - before.accepted <= 2,
    `over ${after.accepted - before.accepted} new connections (nginx reuses its upstream keep-alive connections)`,
  );

  // nginx, not porta, decides who sees porta's status page: every peer porta sees is nginx's loopback.
  const status = await get(front, '/.porta/status?format=json');
  t.equal(status.status, 403, 'the status page through nginx, for a client not on this machine: 403');

  process.kill(porta.pid, 'SIGTERM');
  const end = await exitWithin(porta, 15_000);
  t.same(end, { code: 0, signal: null }, 'porta exits 0 on SIGTERM');
  const log = readFileSync(accessLog, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const through = log.filter((l) => !l.includes('/.porta/status'));
  t.ok(through.length >= 65, `${through.length} requests from nginx in porta's access log`);
  t.same(
    through.filter((l) => !l.startsWith(`${CLIENT} `) && !l.startsWith('::1 ')),
    [],
    `each logged as from ${CLIENT} (or ::1), never 6.6.6.6 or nginx's 127.0.0.1`,
  );
  t.ok(
    log.some((l) => l.startsWith('127.0.0.1 ') && l.includes('/.porta/status')),
    'the status page, asked directly, is logged from 127.0.0.1',
  );
});
