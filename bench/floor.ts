// The process start-up floor: how many short-lived processes per second this
// machine runs with N in flight, no HTTP involved. The CGI workloads cannot
// beat it; porta's CGI rate ÷ floor says how close it gets.
//
// Method: N `/bin/sh` loops, each `while :; do PROGRAM ARGS; echo; done`
// (echo is a shell builtin: one fork+exec per iteration, the program's own).
// The harness counts the newlines that arrive within the window, then stops
// every loop's process group. sh forks are cheap next to Node's spawn, so the
// floor is not held down by the harness.

import { sample, type Sample } from './harness';
import { sleep, spawnTracked, stopTracked } from './util';

export async function startupFloor(
  program: string,
  args: string[],
  concurrency: number,
  seconds: number,
): Promise<Sample> {
  const script = 'while :; do "$@" >/dev/null 2>&1 </dev/null; echo; done';
  let counting = false;
  let count = 0;
  const loops = Array.from({ length: concurrency }, () => {
    const child = spawnTracked('/bin/sh', ['-c', script, 'floor', program, ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!counting) return;
      for (const byte of chunk) if (byte === 0x0a) count++;
    });
    return child;
  });
  // Let every loop get going before the window opens.
  await sleep(200);
  counting = true;
  const start = performance.now();
  await sleep(seconds * 1000);
  counting = false;
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(loops.map((child) => stopTracked(child, 1000)));
  return sample({ rps: count / elapsed, extra: { processes: count } });
}
