// How the spawn addon starts, watches and reaps programs, in raw bytes: the
// same cases for both of its ways to start one (start.test.ts: clone3 from
// the event loop where the kernel allows it; start-worker.test.ts: vfork on a
// libuv worker, as where clone3 is refused), since each has its own child
// code. The launcher must be the addon for these to mean anything.

import type { Test } from 'tap';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgiStdoutMode } from '../../src/config';
import { parseResponses, rawRequest, sleep, startPorta, tempDir, type TestServer } from '../helpers/porta';

const ADDON = join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'porta_spawn.node');

/** Scripts written for these cases (modes set), in a fresh root. */
function site(t: Test): string {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const bin = join(dir, 'cgi-bin');
  mkdirSync(bin);
  const scripts: Record<string, string> = {
    // Its #! names no interpreter: the exec fails after porta has started the child.
    'no-interpreter.cgi': '#!/nonexistent/interpreter\necho never\n',
    // More stderr than a pipe holds (64 KiB) before its answer: porta must keep reading.
    'loud.sh':
      "#!/bin/sh\ni=0\nwhile [ $i -lt 3000 ]; do echo 'a line of stderr, long enough to fill a pipe quickly' >&2; i=$((i+1)); done\nprintf 'Content-Type: text/plain\\r\\n\\r\\nloud done\\n'\n",
    'hello.sh': '#!/bin/sh\nprintf \'Content-Type: text/plain\\r\\n\\r\\nhello %s\\n\' "$(id -u)"\n',
    'slowhello.sh': "#!/bin/sh\nsleep 0.2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow hello\\n'\n",
  };
  for (const [name, text] of Object.entries(scripts)) {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  }
  return dir;
}

async function server(t: Test, root: string, mode: CgiStdoutMode): Promise<TestServer> {
  const s = await startPorta(t, { root, cgiStdout: mode });
  t.teardown(() => s.close());
  return s;
}

async function get(port: number, target: string): Promise<{ status: number | null; body: string }> {
  const { data } = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
    timeoutMs: 10_000,
  });
  const [response] = parseResponses(data);
  return { status: response?.status ?? null, body: response?.body.toString() ?? '' };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function zombiesOf(pid: number): string[] {
  const zombies: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === pid) zombies.push(entry);
    } catch {
      // gone meanwhile
    }
  }
  return zombies;
}

export function startCases(t: Test): void {
  t.ok(existsSync(ADDON), 'the spawn addon is built (make build)');

  for (const mode of ['socket', 'pipe'] as const) {
    t.test(`${mode} mode`, async (t) => {
      const root = site(t);
      const s = await server(t, root, mode);
      t.equal(s.porta.cgiLauncher, 'addon', 'programs start through the addon');

      t.test('an exec that fails is a program that could not start', async (t) => {
        const { data, reset } = await rawRequest(
          s.port,
          'GET /cgi-bin/no-interpreter.cgi HTTP/1.1\r\nHost: x\r\n\r\n',
          { timeoutMs: 10_000 },
        );
        const raw = data.toString('latin1');
        // Socket mode: porta's status line went out before the start; only a
        // reset can follow, or the client takes the unended head for an empty 200.
        if (mode === 'pipe') t.match(raw, /^HTTP\/1\.1 500 /, '500, as for a launch that fails');
        else {
          t.match(raw, /^HTTP\/1\.1 200 OK\r\n(?:[^\r]+\r\n)*$/, "porta's head only: nothing ran");
          t.ok(reset, 'then a reset, not a FIN');
        }
        await sleep(100);
        t.match(s.logs(), /cannot start \S*no-interpreter\.cgi: .*No such file or directory/, 'the log says why');
      });

      t.test('a program that says more on stderr than a pipe holds still answers', async (t) => {
        const r = await get(s.port, '/cgi-bin/loud.sh');
        t.equal(r.status, 200);
        t.equal(r.body, 'loud done\n', 'its answer is whole');
        await sleep(100);
        t.match(s.logs(), /loud\.sh: a line of stderr/, 'stderr reached the log');
        t.match(s.logs(), /loud\.sh: \d+ more stderr bytes dropped/, 'bounded: the rest was read and dropped');
      });

      t.test('32 programs at once: all answered, none left a zombie or an fd', async (t) => {
        await get(s.port, '/cgi-bin/hello.sh'); // the watcher's epoll set exists from the first program on
        await sleep(300); // and the sockets of that request are closed on both sides
        const before = openFds();
        const answers = await Promise.all(Array.from({ length: 32 }, () => get(s.port, '/cgi-bin/slowhello.sh')));
        t.same(
          answers.map((a) => a.body),
          answers.map(() => 'slow hello\n'),
          'every answer whole',
        );
        await sleep(300);
        t.same(zombiesOf(process.pid), [], 'every program reaped');
        t.equal(openFds(), before, "porta's open fds are back where they were");
      });

      t.test('the program runs as the user porta chose, never root', async (t) => {
        const r = await get(s.port, '/cgi-bin/hello.sh');
        const uid = process.getuid?.() ?? 0;
        if (uid === 0) t.not(r.body, 'hello 0\n', 'not root (the tests run as root: nobody)');
        else t.equal(r.body, `hello ${uid}\n`, 'porta is not root: its own user');
      });
    });
  }
}
