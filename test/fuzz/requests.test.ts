// The request fuzzer's short run in `make test` (the long one is `make fuzz`):
// a few thousand mutated inputs through both llhttp builds. The seed is new
// each run and printed; FUZZ_SEED=N (and FUZZ_COUNT) replays a run, and each
// failure prints the command that replays its one input.

import t from 'tap';
import { formatFailure } from './failures';
import { runRequestFuzz, summary } from './requests';

const seed = Number(process.env['FUZZ_SEED'] ?? (Date.now() ^ (process.pid << 16)) >>> 0);
const count = Number(process.env['FUZZ_COUNT'] ?? 8_000);

t.test(`request fuzzer, seed ${seed}`, { timeout: 120_000 }, async (t) => {
  t.comment(
    `seed ${seed}, ${count} inputs; replay: FUZZ_SEED=${seed} FUZZ_COUNT=${count}, or node build/test/fuzz/requests.js --seed ${seed} --count ${count}`,
  );
  const report = await runRequestFuzz({
    count,
    seed,
    index: null,
    parser: 'both',
    maxFailures: 3,
    verbose: false,
    ignore: [],
    log: () => undefined,
  });
  for (const line of summary(report)) t.comment(line);
  for (const failure of report.failures.shown) t.comment(formatFailure(failure));
  t.equal(report.failures.failed, 0, `no input made porta throw, hang, leak or answer wrongly (seed ${seed})`);
  t.equal(report.inputs, count, 'every input ran');
});
