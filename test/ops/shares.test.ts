// --cgi-max and --cgi-queue are whole-server limits: with --workers N each
// worker takes its share, and the shares add up to the flag, never more
// (regression: each took ⌊max/N⌋ but at least 1, so --cgi-max 1 over two
// workers ran two programs, and --cgi-max 3 ran at most two).

import t from 'tap';
import { shareOf } from '../../src/cluster/worker';

const shares = (total: number, workers: number): number[] =>
  Array.from({ length: workers }, (_, slot) => shareOf(total, workers, slot));

t.test('the shares add up to the flag', async (t) => {
  t.same(shares(3, 2), [2, 1], '3 over 2 workers: 2 and 1');
  t.same(shares(1, 2), [1, 0], '1 over 2: one worker runs programs, the other none');
  t.same(shares(64, 1), [64]);
  for (const [total, workers] of [
    [64, 3],
    [256, 7],
    [5, 8],
    [0, 4],
  ] as const) {
    const got = shares(total, workers);
    t.equal(
      got.reduce((a, b) => a + b, 0),
      total,
      `${total} over ${workers}: ${got.join(' + ')}`,
    );
    t.ok(Math.max(...got) - Math.min(...got) <= 1, 'as even as can be');
  }
});
