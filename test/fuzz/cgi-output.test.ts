// The CGI output fuzzer's short run in `make test`: a couple of thousand fake
// programs answering through porta's pipe mode. The seed is new each run and
// printed; FUZZ_SEED=N (and FUZZ_CGI_COUNT) replays a run, and each failure
// kind prints its first input in full with the command that replays it.

import t from 'tap';
import { cgiSummary, runCgiFuzz } from './cgi-output';
import { formatFailure } from './failures';

const seed = Number(process.env['FUZZ_SEED'] ?? (Date.now() ^ (process.pid << 16)) >>> 0);
const count = Number(process.env['FUZZ_CGI_COUNT'] ?? 2_000);

t.test(`CGI output fuzzer, seed ${seed}`, { timeout: 120_000 }, async (t) => {
  t.comment(
    `seed ${seed}, ${count} programs; replay: node build/test/fuzz/cgi-output.js --seed ${seed} --count ${count}`,
  );
  const report = await runCgiFuzz({
    count,
    seed,
    index: null,
    parser: 'both',
    maxFailures: 5,
    verbose: false,
    ignore: [],
    log: () => undefined,
  });
  for (const line of cgiSummary(report)) t.comment(line);
  for (const failure of report.failures.shown) t.comment(formatFailure(failure));
  t.equal(
    report.failures.failed,
    0,
    `every answer was a correct 502/504 or exactly framed, nothing leaked (seed ${seed})`,
  );
  t.equal(report.inputs, count, 'every program ran');
});
