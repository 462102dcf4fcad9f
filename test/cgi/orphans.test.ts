// What a program leaves behind outside its process group (setsid, a double
// fork) is ended once it is older than --cgi-timeout, and reaped: the CLI's
// serving process is the programs' child subreaper (src/cgi/orphans.ts). A
// reviewer's double-forked helpers were alive, adopted by init, minutes past
// a 5 s timeout. Real processes: the CLI, in one process and with a worker.

import { readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startCli, waitUntil } from '../helpers/cli';
import { getOnce, sleep, tempDir } from '../helpers/porta';

function alive(pid: number): boolean {
  try {
    // A zombie is no process left running: only its entry waits to be reaped.
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

function exists(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

const site = tempDir('porta-orphans-');
t.teardown(site.remove);
const scratch = join(site.dir, 'scratch');
mkdirSync(join(site.dir, 'cgi-bin'));
mkdirSync(scratch, { mode: 0o1777 });
chmodSync(scratch, 0o1777);
// Answers at once; its grandchild, in a session of its own, sleeps on with the pid in QUERY_STRING's file.
writeFileSync(
  join(site.dir, 'cgi-bin', 'daemon.py'),
  [
    '#!/usr/bin/python3',
    'import os, sys, time',
    'sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nanswered\\n")',
    'sys.stdout.flush()',
    'os.close(1)',
    'if os.fork() == 0:',
    '    os.setsid()',
    '    if os.fork() == 0:',
    '        with open(os.environ["QUERY_STRING"], "w") as f:',
    '            f.write(str(os.getpid()))',
    '        time.sleep(60)',
    '    os._exit(0)',
    'os.wait()',
    '',
  ].join('\n'),
);
chmodSync(join(site.dir, 'cgi-bin', 'daemon.py'), 0o755);

for (const workers of ['0', '1']) {
  t.test(`--workers ${workers}: a program's daemon is ended past the timeout, and reaped`, async (t) => {
    const porta = await startCli(t, [
      '-d',
      site.dir,
      '-b',
      '127.0.0.1',
      '--port',
      '0',
      '--quiet',
      '--workers',
      workers,
      '--cgi-timeout',
      '1',
    ]);
    const pidFile = join(scratch, `daemon-${workers}`);
    const r = await getOnce(porta.port, `/cgi-bin/daemon.py?${pidFile}`);
    t.equal(r?.body.toString(), 'answered\n', 'the program answered and exited');
    t.ok(await waitUntil(() => readFileSync(pidFile, 'utf8').length > 0), 'its daemon started');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    t.teardown(() => {
      if (exists(pid)) process.kill(pid, 'SIGKILL');
    });
    await sleep(300);
    t.ok(alive(pid), 'younger than the timeout, it runs on (its request may still want it)');
    t.ok(await waitUntil(() => !exists(pid), 5000), 'past the timeout it is killed, and reaped (no zombie)');
    t.match(porta.stderr(), new RegExp(`killed pid ${pid} \\(python3\\), left behind by a program outside its group`));
    t.equal((await getOnce(porta.port, '/'))?.status, 200, 'porta serves on');
    porta.signal('SIGTERM');
    t.same(await porta.exited, { code: 0, signal: null }, 'SIGTERM: exit 0');
  });
}

// A background job left in the program's group is TERMed when the program
// exits; it dies as porta's child (the subreaper's) and must not stay a zombie
// until --cgi-timeout (regression: 60 requests left 60 zombies for 15-30 s).
writeFileSync(
  join(site.dir, 'cgi-bin', 'bg.sh'),
  ['#!/bin/sh', 'sleep 30 &', 'echo $! > "$QUERY_STRING"', "printf 'Content-Type: text/plain\\n\\nok\\n'", ''].join(
    '\n',
  ),
);
chmodSync(join(site.dir, 'cgi-bin', 'bg.sh'), 0o755);

t.test('a background job killed with its group is reaped within a couple of seconds, not at the timeout', async (t) => {
  const porta = await startCli(t, ['-d', site.dir, '-b', '127.0.0.1', '--port', '0', '--quiet', '--workers', '0']);
  const pidFile = join(scratch, 'bg');
  const r = await getOnce(porta.port, `/cgi-bin/bg.sh?${pidFile}`);
  t.equal(r?.body.toString(), 'ok\n');
  t.ok(await waitUntil(() => readFileSync(pidFile, 'utf8').trim().length > 0), 'the job started');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.teardown(() => {
    if (exists(pid)) process.kill(pid, 'SIGKILL');
  });
  t.ok(await waitUntil(() => !exists(pid), 4000), 'gone and reaped (no zombie), with --cgi-timeout at its 30 s');
  porta.signal('SIGTERM');
  t.same(await porta.exited, { code: 0, signal: null });
});

t.test('a daemon younger than the timeout goes with the server when it stops', async (t) => {
  const porta = await startCli(t, ['-d', site.dir, '-b', '127.0.0.1', '--port', '0', '--quiet', '--workers', '0']);
  const pidFile = join(scratch, 'daemon-stop');
  await getOnce(porta.port, `/cgi-bin/daemon.py?${pidFile}`);
  t.ok(await waitUntil(() => readFileSync(pidFile, 'utf8').length > 0), 'its daemon started');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.teardown(() => {
    if (exists(pid)) process.kill(pid, 'SIGKILL');
  });
  await sleep(200); // adopted: its parent, the program's child, has exited
  t.ok(alive(pid), 'running (the timeout is 30 s)');
  porta.signal('SIGTERM');
  t.same(await porta.exited, { code: 0, signal: null }, 'SIGTERM: exit 0');
  t.ok(await waitUntil(() => !alive(pid), 3000), 'and the daemon did not outlive it');
});
