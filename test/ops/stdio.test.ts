// A reader of porta's stdout that goes away (`porta | head`, a journal
// restarting) costs the log, not the server: the EPIPE of the next access-log
// line used to be an 'error' event nobody heard, which ended the process
// (the worker, or the whole server with --workers 0).

import { readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startCli, waitUntil } from '../helpers/cli';
import { getOnce, sleep, tempDir } from '../helpers/porta';

/** A free port on loopback, the fixtures' site. */
const SERVE = ['--port', '0', '-b', '127.0.0.1', '-d', 'test/fixtures/site'];

for (const workers of ['0', '1']) {
  t.test(`porta keeps serving after its stdout's reader left (--workers ${workers})`, async (t) => {
    const porta = await startCli(t, ['--workers', workers, ...SERVE]);
    const before = porta.workers();
    // The read end of porta's stdout pipe closes: its next write fails with EPIPE.
    porta.child.stdout?.destroy();
    let ok = 0;
    for (let i = 0; i < 30; i++) {
      const r = await getOnce(porta.port, '/hello.txt');
      if (r?.status === 200) ok++;
      await sleep(5);
    }
    t.equal(ok, 30, 'every request answered, each logging a line that cannot be written');
    t.equal(porta.exit, null, 'porta is still running');
    t.same(porta.workers(), before, 'with the same workers (none died and was replaced)');
    t.match(porta.stderr(), /porta: stdout: write EPIPE; its lines are dropped/, 'said once on stderr');
  });
}

// A log file that cannot be written (here ENOSPC: the path leads to
// /dev/full) drops its lines, and porta opens it again by itself a second
// later: the disk may have room again. It used to stay silent until SIGUSR1.
t.test('a log file that filled up is written again once it can be, without SIGUSR1', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const link = join(dir, 'access.log');
  const file = join(dir, 'real.log');
  symlinkSync('/dev/full', link);
  const porta = await startCli(t, ['--workers', '0', ...SERVE, '--access-log', link]);
  for (let i = 0; i < 5; i++) t.equal((await getOnce(porta.port, '/hello.txt?full'))?.status, 200, 'served');
  t.ok(
    await waitUntil(() => /access\.log: .*ENOSPC.*lines are dropped/.test(porta.stderr())),
    'the failure said on stderr',
  );
  // The disk has room again.
  unlinkSync(link);
  symlinkSync(file, link);
  await sleep(1100);
  t.equal((await getOnce(porta.port, '/hello.txt?room'))?.status, 200, 'served');
  t.ok(
    await waitUntil(() => {
      try {
        return readFileSync(file, 'utf8').includes('GET /hello.txt?room HTTP/1.1" 200');
      } catch {
        return false;
      }
    }),
    'the next line reached the log file, unasked',
  );
  t.notMatch(readFileSync(file, 'utf8'), /\?full/, 'the lines of the full disk were dropped, not held');
  t.ok(
    await waitUntil(() => /access\.log: written again; \d+ lines were dropped/.test(porta.stderr())),
    'the return said on stderr, with the count (the test reads it from a pipe: waited for)',
  );
  t.equal(porta.exit, null, 'porta is still running');
});
