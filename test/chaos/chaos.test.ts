// Chaos in `make test` (the project's issue): a real porta under victims and
// aborters for CHAOS_SECONDS (default 20), about 30 s in all. Each property is
// its own assertion; the seed is printed first, and with every failure the
// command that replays it (CHAOS_SEED=<seed> make chaos SECONDS=<n>).

import t from 'tap';
import { FD_SLACK, MAX_SOCKETS, RSS_LIMIT_MIB, replayCommand, runChaos, seedFromEnv } from './chaos';
import { formatReport } from './report';

const seconds = Number(process.env.CHAOS_SECONDS ?? 20);
const seed = seedFromEnv();

t.test(`chaos, seed ${seed}`, { timeout: (seconds + 60) * 1000 }, async (t) => {
  t.comment(`seed ${seed}; replay: ${replayCommand(seed, seconds)}`);
  const report = await runChaos({ seconds, seed, log: (line) => t.comment(line) });
  const seedNote = `(seed ${seed}; ${report.replay})`;

  t.same(
    report.setupErrors,
    [],
    `servers started, every reference answer was right before any chaos, no harness error ${seedNote}`,
  );
  for (const s of report.servers) {
    t.equal(s.exit, null, `porta (${s.mode}) never exited ${seedNote}`);
    t.equal(s.zombies.length, 0, `porta (${s.mode}) left no zombie ${seedNote}`);
    t.equal(s.children.length, 0, `porta (${s.mode}) left no child running ${seedNote}`);
    if (s.exit === null) {
      t.ok(s.fdBaseline !== null && s.fdEnd !== null, `porta (${s.mode}) fd counts were read`);
      t.ok(
        s.fdBaseline !== null && s.fdEnd !== null && s.fdEnd <= s.fdBaseline + FD_SLACK,
        `porta (${s.mode}) fds back to baseline: ${s.fdEnd} ≤ ${s.fdBaseline} + ${FD_SLACK} ${seedNote}`,
      );
    }
    t.ok(
      s.maxRssMiB <= RSS_LIMIT_MIB,
      `porta (${s.mode}) RSS ${s.maxRssMiB.toFixed(1)} MiB ≤ ${RSS_LIMIT_MIB} MiB ${seedNote}`,
    );
  }
  t.equal(report.servers.length, 2, 'both servers started');
  t.equal(report.wrongResponses, 0, `no wrong answer ${seedNote}`);
  t.equal(report.wrongBytes, 0, `no wrong byte ${seedNote}`);
  t.equal(report.leftovers.length, 0, `no program left running in the site ${seedNote}`);
  t.ok(report.responsesChecked > 0, `answers were checked (${report.responsesChecked})`);
  t.ok(report.maxOpenSockets <= MAX_SOCKETS, `at most ${MAX_SOCKETS} sockets open (${report.maxOpenSockets})`);
  for (const line of formatReport(report, FD_SLACK)) t.comment(line);
});
