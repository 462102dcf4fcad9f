// The live flow page (--flow, issue 10), over real processes (node build/src/cli.js):
// who may see it, its files, the Server-Sent Events stream (the events of a
// request made after subscribing, none of the page's own, and a reader that
// stops reading: what it cannot take is counted, never queued), and the page
// itself in a real headless Chromium (Debian's, driven by playwright-core),
// which leaves its screenshot in docs/flow.png for the README.

import t, { type Test } from 'tap';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TraceEvent } from '../../src/trace';
import { REPO, startCli, waitUntil } from '../helpers/cli';
import { parseResponses, rawRequest, sleep, tempDir } from '../helpers/porta';

const CHROMIUM = '/usr/bin/chromium';
const PAGE = '/.porta/flow';
const EVENTS = '/.porta/flow/events';

/** A folder to serve: a file and a CGI form (python3 by its Debian path: the pyenv one is not nobody's to run). */
function makeSite(t: Test): string {
  const { dir, remove } = tempDir('porta-flow-');
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'), { mode: 0o755 });
  writeFileSync(join(dir, 'hello.txt'), 'hello, flow\n', { mode: 0o644 });
  writeFileSync(
    join(dir, 'cgi-bin', 'form.py'),
    '#!/usr/bin/python3\nimport os, sys, urllib.parse\n' +
      "fields = urllib.parse.parse_qs(sys.stdin.read(int(os.environ.get('CONTENT_LENGTH') or 0)))\n" +
      "sys.stdout.write('Content-Type: text/html; charset=utf-8\\r\\n\\r\\n')\n" +
      "sys.stdout.write('<p>obrigado, %s</p>\\n' % fields.get('nome', ['?'])[0])\n",
    { mode: 0o755 },
  );
  return dir;
}

function serve(t: Test, args: string[] = []) {
  return startCli(t, ['-d', makeSite(t), '-b', '127.0.0.1', '--port', '0', '--workers', '0', '--quiet', ...args]);
}

/** One request on its own connection (Connection: close), the answer parsed. */
async function ask(port: number, target: string, method = 'GET', before = '') {
  const head = `${before}${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
  const [response] = parseResponses((await rawRequest(port, head)).data, [method === 'HEAD']);
  if (response === undefined) throw new Error(`no answer to ${method} ${target}`);
  return response;
}

const proxyLine = (address: string) => `PROXY TCP4 ${address} 198.51.100.2 40000 443\r\n`;

/** A reader of the event stream over HTTP/1.0 (close-delimited, so the body is the stream as it is). */
class EventStream {
  readonly socket: Socket;
  /** Every message: 'message' (a trace event), 'ready', 'dropped'. */
  readonly messages: Array<{ event: string; data: string }> = [];
  head = '';
  received = 0;
  #text = '';

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1', () => this.socket.write(`GET ${EVENTS} HTTP/1.0\r\nHost: x\r\n\r\n`));
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => this.#take(chunk));
    this.socket.on('error', () => undefined);
  }

  #take(chunk: string): void {
    this.received += Buffer.byteLength(chunk);
    this.#text += chunk;
    if (this.head === '') {
      const end = this.#text.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.#text.slice(0, end);
      this.#text = this.#text.slice(end + 4);
    }
    for (let end = this.#text.indexOf('\n\n'); end >= 0; end = this.#text.indexOf('\n\n')) {
      const block = this.#text.slice(0, end).split('\n');
      this.#text = this.#text.slice(end + 2);
      const data = block.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
      if (data.length === 0) continue; // a comment (the heartbeat) or retry alone
      const event = block.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      this.messages.push({ event, data: data.join('\n') });
    }
  }

  events(): TraceEvent[] {
    return this.messages.filter((m) => m.event === 'message').map((m) => JSON.parse(m.data) as TraceEvent);
  }

  dropped(): number {
    return this.messages.filter((m) => m.event === 'dropped').reduce((n, m) => n + JSON.parse(m.data).count, 0);
  }

  async ready(): Promise<void> {
    if (!(await waitUntil(() => this.messages.some((m) => m.event === 'ready'), 5000))) throw new Error('no ready');
  }
}

t.test('without --flow there is no flow page: 404', async (t) => {
  const porta = await serve(t);
  t.equal((await ask(porta.port, PAGE)).status, 404);
  t.equal((await ask(porta.port, EVENTS)).status, 404);
});

t.test('who may see it: loopback, or what --status-allow names; 403 for the rest', async (t) => {
  const proxied = ['--flow', '--proxy-protocol', '--trust-proxy', '127.0.0.1'];
  const porta = await serve(t, proxied);
  t.equal((await ask(porta.port, PAGE, 'GET', proxyLine('203.0.113.7'))).status, 403, 'a remote client');
  t.equal((await ask(porta.port, EVENTS, 'GET', proxyLine('203.0.113.7'))).status, 403, 'its events too');
  t.equal((await ask(porta.port, PAGE, 'GET', proxyLine('127.0.0.1'))).status, 200, 'a loopback one');
  const allowed = await serve(t, [...proxied, '--status-allow', '203.0.113.0/24']);
  t.equal((await ask(allowed.port, PAGE, 'GET', proxyLine('203.0.113.7'))).status, 200, 'named by --status-allow');
});

t.test('the page, its files, its methods', async (t) => {
  const porta = await serve(t, ['--flow']);
  const page = await ask(porta.port, PAGE);
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  t.match(page.body.toString(), /<script src="\/\.porta\/flow\/flow\.js"/);
  const types: Record<string, RegExp> = {
    'flow.js': /^text\/javascript/,
    'details.js': /^text\/javascript/,
    'lanes.js': /^text\/javascript/,
    'flow.css': /^text\/css/,
    'favicon.svg': /^image\/svg\+xml/,
  };
  for (const [name, type] of Object.entries(types)) {
    const r = await ask(porta.port, `${PAGE}/${name}`);
    t.equal(r.status, 200, name);
    t.match(r.headers['content-type'], type, name);
  }
  t.equal((await ask(porta.port, `${PAGE}/../../etc/passwd`)).status, 404, 'nothing but its own files');
  t.equal((await ask(porta.port, `${PAGE}/nope.js`)).status, 404);
  const post = await ask(porta.port, PAGE, 'POST');
  t.equal(post.status, 405);
  t.equal(post.headers['allow'], 'GET, HEAD');
  const head = await ask(porta.port, EVENTS, 'HEAD');
  t.equal(head.status, 200);
  t.match(head.headers['content-type'], /^text\/event-stream/);
  t.equal(head.headers['cache-control'], 'no-store');
});

t.test('the stream: every event of a request made after subscribing, none of its own', async (t) => {
  const porta = await serve(t, ['--flow']);
  const stream = new EventStream(porta.port);
  t.teardown(() => stream.socket.destroy());
  await stream.ready();
  t.match(stream.head, /^HTTP\/1\.1 200 /);
  t.match(stream.head, /content-type: text\/event-stream/i);
  t.match(stream.head, /cache-control: no-store/i);
  await ask(porta.port, '/hello.txt');
  const body = 'nome=Ana&email=ana%40example.org';
  const post =
    'POST /cgi-bin/form.py HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
  t.match((await rawRequest(porta.port, post)).data.toString(), /obrigado, Ana/);
  // The page's own files are requests as any other: traced, and a browser's
  // connection that fetched one goes on to the site's pages (regression: a
  // connection was muted for good from its first flow request on, and the
  // form POST a browser sent over it never showed).
  const reused = await rawRequest(
    porta.port,
    `GET ${PAGE}/flow.css HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  t.equal(parseResponses(reused.data).length, 2);
  // A second stream while the first runs: its dispatch is shown, then nothing of it.
  const second = new EventStream(porta.port);
  t.teardown(() => second.socket.destroy());
  await second.ready();
  await waitUntil(() => stream.events().filter((e) => e.kind === 'close').length >= 3, 5000);
  await sleep(100);
  const events = stream.events();
  const conns = [...new Set(events.map((e) => e.conn))];
  const of = (conn: number | undefined) => events.filter((e) => e.conn === conn);
  const asked = (conn: number, url: string) => of(conn).some((e) => e.kind === 'llhttp' && e.data['value'] === url);
  const file = conns.find((c) => asked(c, '/hello.txt') && !asked(c, `${PAGE}/flow.css`));
  const cgi = conns.find((c) => of(c).some((e) => e.kind === 'spawn'));
  t.ok(file !== undefined && cgi !== undefined, 'both requests are in the stream');
  const kinds = (conn: number | undefined) => [...new Set(of(conn).map((e) => e.kind))];
  t.same(kinds(file).slice(0, 3), ['accept', 'read', 'llhttp']);
  t.ok(
    (['state', 'write', 'answer', 'close'] as const).every((k) => kinds(file).includes(k)),
    'the whole life of the file request',
  );
  t.equal(of(file).find((e) => e.kind === 'answer')?.data['status'], 200);
  const dispatch = of(cgi).find((e) => e.kind === 'dispatch');
  t.equal(dispatch?.data['handler'], 'cgi');
  t.ok(((dispatch?.data['env'] ?? []) as string[]).includes('REQUEST_METHOD=POST'), 'the environment is in it');
  const spawn = of(cgi).find((e) => e.kind === 'spawn');
  t.equal(spawn?.data['stdout'], 'socket');
  t.ok(
    of(cgi).some((e) => e.kind === 'exit' && e.data['pid'] === spawn?.data['pid']),
    'the program exits',
  );
  const both = conns.find((c) => asked(c, `${PAGE}/flow.css`));
  t.ok(both !== undefined && asked(both, '/hello.txt'), 'flow.css and then /hello.txt, on one connection');
  const answers = of(both).filter((e) => e.kind === 'answer');
  t.same(
    answers.map((e) => e.data['status']),
    [200, 200],
    'both answered, in the stream',
  );
  t.ok(
    of(both).some((e) => e.kind === 'dispatch' && e.data['handler'] === 'flow' && e.data['stream'] === false),
    'the page file is a flow dispatch, not a stream',
  );
  // The second stream: its dispatch, and not one of its own writes after it.
  const streams = conns.filter((c) =>
    of(c).some((e) => e.kind === 'dispatch' && e.data['handler'] === 'flow' && e.data['stream'] === true),
  );
  t.equal(streams.length, 1, "the second stream's dispatch is shown");
  const afterDispatch = of(streams[0]).slice(of(streams[0]).findIndex((e) => e.kind === 'dispatch') + 1);
  t.same(afterDispatch, [], 'and nothing after it: its writes would be events to stream, for ever');
  t.equal(conns.length, 4, 'the file, the program, the reused connection and the second stream');
});

t.test('a reader that does not read: its events are counted, never queued, and it is told', async (t) => {
  const porta = await serve(t, ['--flow', '--trace-bytes', '16384']);
  const fast = new EventStream(porta.port);
  const slow = new EventStream(porta.port);
  t.teardown(() => {
    fast.socket.destroy();
    slow.socket.destroy();
  });
  await Promise.all([fast.ready(), slow.ready()]);
  slow.socket.pause();
  // Big events: a 9 KB head is one read event and three 3000-byte header values.
  const big = ['A', 'B', 'C'].map((n) => `X-${n}: ${n.repeat(3000)}\r\n`).join('');
  const request = `GET /nothing HTTP/1.1\r\nHost: x\r\n${big}\r\n`;
  for (let round = 0; round < 40; round++) {
    const batch = request.repeat(25) + 'GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    await rawRequest(porta.port, batch, { timeoutMs: 10_000 });
  }
  // The fast reader has everything once the stream is quiet.
  let seen = -1;
  while (seen !== fast.messages.length) {
    seen = fast.messages.length;
    await sleep(300);
  }
  // The slow reader's own connection was traced to the fast one until its flow dispatch: not the slow one's to see.
  const slowOwn = new Set(
    fast
      .events()
      .filter((e) => e.kind === 'llhttp' && e.data['value'] === EVENTS)
      .map((e) => e.conn),
  );
  const total = fast.events().filter((e) => !slowOwn.has(e.conn)).length + fast.dropped();
  const before = slow.received;
  t.ok(before < fast.received / 2, `the slow reader had ${before} bytes of ${fast.received} before it read`);
  slow.socket.resume();
  t.ok(await waitUntil(() => slow.events().length + slow.dropped() >= total, 10_000), 'every event written or counted');
  t.ok(slow.dropped() > 0, `${slow.dropped()} events dropped for the slow reader, ${slow.events().length} written`);
  t.equal(slow.events().length + slow.dropped(), total, 'none lost without being counted');
});

// ---- the page in a real browser ------------------------------------------------------

type Playwright = typeof import('playwright-core');

async function loadPlaywright(t: Test): Promise<Playwright | null> {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: \`make test-deps\` installs Debian's chromium`);
    return null;
  }
  try {
    return await import('playwright-core');
  } catch (err) {
    t.fail(`playwright-core is missing (${(err as Error).message}): \`make test-deps\` installs it (npm ci)`);
    return null;
  }
}

t.test('the page in headless Chromium: lanes, states, events, details; and its screenshot', async (t) => {
  const playwright = await loadPlaywright(t);
  if (playwright === null) return;
  const porta = await serve(t, ['--flow']);
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await page.goto(`http://127.0.0.1:${porta.port}${PAGE}`);
  await page.waitForSelector('#live[data-live="live"]', { timeout: 5000 });

  // Made from here, oldest first (the page shows the newest lane on the left).
  await rawRequest(porta.port, 'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n');
  await rawRequest(
    porta.port,
    'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  await ask(porta.port, '/hello.txt');
  const body = 'nome=Ana&email=ana%40example.org';
  await rawRequest(
    porta.port,
    'POST /cgi-bin/form.py HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );

  const lane = (has: string) => page.locator('section.lane', { has: page.locator(has) });
  const bad = lane('.ev[data-error]');
  const pipelined = lane('.lane-body .request[data-request="2"]');
  const file = lane('.request[data-url="/hello.txt"][data-status="200"]').filter({
    hasNot: page.locator('.request[data-request="2"]'),
  });
  const cgi = lane('.request[data-url="/cgi-bin/form.py"]');
  for (const l of [bad, pipelined, file, cgi]) await l.locator('.ev[data-kind="close"]').waitFor({ timeout: 5000 });
  t.equal(
    await page.locator('section.lane:visible').count(),
    4,
    'four lanes: the page’s own connections are not drawn',
  );

  // Every lane: the state machine's names, the bytes both ways, the stages.
  for (const l of [bad, pipelined, file, cgi]) {
    t.equal(await l.getAttribute('data-state'), 'closed');
    t.match(await l.locator('.state-pill').textContent(), 'closed');
    t.ok(Number(await l.locator('[data-bytes-in]').getAttribute('data-bytes-in')) > 0, 'bytes read');
    t.ok(Number(await l.locator('[data-bytes-out]').getAttribute('data-bytes-out')) > 0, 'bytes written');
    t.equal(await l.locator('.ev[data-kind="read"]').first().getAttribute('data-stage'), 'sending');
    t.equal(await l.locator('.ev[data-kind="answer"]').last().getAttribute('data-stage'), 'response');
  }
  t.match(await bad.locator('.ev[data-error]').textContent(), /llhttp cannot parse this: HPE_INVALID_HEADER_TOKEN/);
  t.equal(await bad.locator('.ev[data-kind="answer"]').getAttribute('data-status'), '400');

  t.equal(await pipelined.getAttribute('data-requests'), '2', 'keep-alive: two requests in one lane');
  t.match(await pipelined.locator('.lane-counts').textContent(), /2 requests on one connection/);
  t.equal(await pipelined.locator('.request[data-request="1"]').getAttribute('data-status'), '200');
  t.equal(await pipelined.locator('.request[data-request="2"]').getAttribute('data-status'), '404');
  t.equal(await pipelined.locator('.request[data-request="2"] .ev[data-pipelined]').count(), 1, 'told as pipelined');
  t.ok(await pipelined.locator('.ev[data-kind="state"][data-to="idle"]').count(), 'back to idle between them');

  t.match(await file.locator('.req-line').textContent(), 'GET /hello.txt HTTP/1.1');
  t.match(await file.locator('.req-status').textContent(), '200 OK');

  t.equal(await cgi.locator('.request').getAttribute('data-method'), 'POST');
  t.match(
    await cgi.locator('.ev[data-kind="dispatch"][data-handler="cgi"]').textContent(),
    /run a program: \/cgi-bin\/form\.py/,
  );
  t.equal(await cgi.locator('.ev[data-kind="state"][data-to="handedOff"]').count(), 1, 'the handedOff state');
  const child = cgi.locator('.child[data-stdout="socket"]');
  t.match(await child.getAttribute('data-pid'), /^\d+$/, 'the program’s box, with its pid');
  t.match(await child.locator('.ev[data-handoff="socket"]').textContent(), /the client socket IS its stdout/);
  t.match(await child.locator('.ev[data-kind="exit"]').textContent(), /ended: exit status 0/);

  // Details: the environment, the raw bytes, the file descriptors.
  await cgi.locator('.ev[data-kind="dispatch"]').click();
  const details = page.locator('#details');
  t.equal(await details.getAttribute('data-kind'), 'dispatch');
  t.match(await details.locator('table[data-env]').textContent(), /REQUEST_METHODPOST/);
  t.match(await details.locator('table[data-env]').textContent(), `CONTENT_LENGTH${body.length}`);
  await pipelined.locator('.ev[data-kind="read"]').click();
  t.match(await details.locator('pre[data-bytes]').textContent(), /GET \/hello\.txt HTTP\/1\.1CRLF\nHost: xCRLF\n/);
  await cgi.locator('.ev[data-handoff]').click();
  t.match(await details.locator('[data-handoff]').textContent(), /porta: fd \d+.*fd 1 \(stdout\)/);

  t.same(problems, [], 'no errors or warnings in the console');
  mkdirSync(join(REPO, 'docs'), { recursive: true });
  // The README's picture is refreshed by `make docs` (PORTA_SCREENSHOT=1); a plain run keeps the tree clean.
  const shot =
    process.env['PORTA_SCREENSHOT'] === '1' ? join(REPO, 'docs', 'flow.png') : join(REPO, 'build', 'flow.png');
  await page.screenshot({ path: shot });
});
