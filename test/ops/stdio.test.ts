// A reader of porta's stdout that goes away (`porta | head`, a journal
// restarting) costs the log, not the server: the EPIPE of the next access-log
// line used to be an 'error' event nobody heard, which ended the process
// (the worker, or the whole server with --workers 0).

import t from 'tap';
import { startCli } from '../helpers/cli';
import { getOnce, sleep } from '../helpers/porta';

for (const workers of ['0', '1']) {
  t.test(`porta keeps serving after its stdout's reader left (--workers ${workers})`, async (t) => {
    const porta = await startCli(t, [
      '--workers',
      workers,
      '--port',
      '0',
      '-b',
      '127.0.0.1',
      '-d',
      'test/fixtures/site',
    ]);
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
