// wrk (Debian's `wrk`, installed by `make bench-peers`) as a second client for
// W1 and W2, reduced to a Sample. autocannon is JavaScript: on two cores it
// holds one of them, so its rate says as much about autocannon as about the
// server (see README.md, "Why three load generators"). wrk is C and costs a
// few microseconds a request: with it the server's own cost per request sets
// the rate, which is how the first table was measured.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sample, type Sample } from './harness';
import { findProgram } from './servers';
import { atExit, captureOutput, MiB, spawnTracked } from './util';

export interface WrkOptions {
  port: number;
  path: string;
  connections: number;
  /** Requests sent back to back on a connection before waiting for their answers. */
  pipelining: number;
  durationS: number;
}

/** Why wrk cannot run here, or null. */
export function wrkMissing(): string | null {
  return findProgram('wrk') === null ? 'skipped: wrk not installed (run make bench-peers)' : null;
}

/** The scripts written so far (one per path and count), in one temp folder removed at exit. */
const scripts = new Map<string, string>();
let scriptDir: string | null = null;

/**
 * wrk pipelines through a Lua script whose request() returns N requests in
 * one string; wrk counts N answers for it (it parses the string to know).
 */
function pipelineScript(path: string, count: number): string {
  const key = `${count} ${path}`;
  const known = scripts.get(key);
  if (known !== undefined) return known;
  if (scriptDir === null) {
    const dir = mkdtempSync(join(tmpdir(), 'porta-wrk-'));
    atExit(() => rmSync(dir, { recursive: true, force: true }));
    scriptDir = dir;
  }
  const file = join(scriptDir, `pipeline-${scripts.size}.lua`);
  scripts.set(key, file);
  writeFileSync(
    file,
    [
      'init = function(args)',
      '  local r = {}',
      `  for i = 1, ${count} do r[i] = wrk.format(nil, ${JSON.stringify(path)}) end`,
      '  req = table.concat(r)',
      'end',
      'request = function() return req end',
      '',
    ].join('\n'),
  );
  return file;
}

/** "620.00us", "1.20ms", "2.00s" → milliseconds. */
function millis(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (m === null || m[1] === undefined) return Number.NaN;
  const value = Number(m[1]);
  return m[2] === 'us' ? value / 1000 : m[2] === 'ms' ? value : value * 1000;
}

/** "400.00MB" (wrk's units are powers of 1024) → bytes. */
function bytes(text: string): number {
  const m = /^([\d.]+)([KMGT]?B)$/.exec(text.trim());
  if (m === null || m[1] === undefined) return Number.NaN;
  const power = ['B', 'KB', 'MB', 'GB', 'TB'].indexOf(m[2] ?? 'B');
  return Number(m[1]) * 1024 ** power;
}

/** wrk's report → a Sample; throws when the report is not what wrk prints. */
export function parseWrk(text: string): Sample {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s), ([\d.]+[KMGT]?B) read/.exec(text);
  if (total === null || total[1] === undefined || total[2] === undefined || total[4] === undefined) {
    throw new Error(`wrk: no totals in its report: ${text.slice(-300)}`);
  }
  const seconds = millis(`${total[2]}${total[3]}`) / 1000;
  const requests = Number(total[1]);
  const percent = (p: number) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(text);
    return m === null || m[1] === undefined ? Number.NaN : millis(m[1]);
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return sample({
    rps: requests / seconds,
    mibps: bytes(total[4]) / MiB / seconds,
    p50: percent(50),
    p99: percent(99),
    errors: errors === null ? 0 : errors.slice(1).reduce((sum, n) => sum + Number(n), 0),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
  });
}

/** One wrk run: one thread (one core, as autocannon), --latency for the percentiles. */
export function wrk(options: WrkOptions): Promise<Sample> {
  const program = findProgram('wrk');
  if (program === null) return Promise.reject(new Error('wrk not installed'));
  const args = ['-t1', `-c${options.connections}`, `-d${options.durationS}s`, '--latency'];
  if (options.pipelining > 1) args.push('-s', pipelineScript(options.path, options.pipelining));
  args.push(`http://127.0.0.1:${options.port}${options.path}`);
  const child = spawnTracked(program, args);
  const output = captureOutput(child);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': only then has all of stdout (the report's last lines) been read.
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${output()}`));
      try {
        resolve(parseWrk(stdout));
      } catch (err) {
        reject(err);
      }
    });
  });
}
