// Chaos for porta (the project's issue): two real porta processes (CGI stdout
// socket and pipe) on a generated site; victims check every byte of their
// answers while aborters walk away at random points; the servers must never
// exit, answer no wrong byte, leave no zombie or leftover program, come back to
// their fd baseline and keep RSS bounded. Seeded: CHAOS_SEED=<n> replays the
// same choices (each client loop has its own PRNG stream), but not the same
// timing, so a replay is likely, not certain, to hit the same fault.
//
//   node build/test/chaos/chaos.js --seconds 600 [--seed N] [--no-aborts]
//     [--victims N] [--aborters N] [--skip nph,cgi-big,...]
//   (or CHAOS_SECONDS / CHAOS_SEED in the environment; exit 1 on any failure)

import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { aborterLoop, Stats, type Stop, type Target, victimLoop } from './clients';
import {
  childrenOf,
  describe,
  fdCount,
  fdGrowth,
  fdKinds,
  type ProcInfo,
  processesIn,
  rssKiB,
  zombiesOf,
} from './probe';
import { formatReport } from './report';
import { fetchRefs } from './references';
import { BAD_KINDS, type BadKind, type Ctx, KINDS, type Kind } from './requests';
import { type ExitInfo, type PortaProcess, startPorta } from './server';
import { makeSite, type Site } from './site';

/**
 * fds allowed above the baseline after the settle. The baseline is taken with
 * no client connected, after a warm-up that took every common path once, but
 * Node and libuv open some fds lazily on first use and keep them (thread-pool
 * wake-ups, io_uring rings for fs calls, the CGI pidfd poller, a temp file or
 * pipe on an error path first taken under chaos). A leak grows by one or more
 * per aborted connection: hundreds in a run, far above this slack.
 */
export const FD_SLACK = 4;
export const RSS_LIMIT_MIB = 400;
export const MAX_SOCKETS = 40;
const SETTLE_MS = 5000;

export interface ChaosOptions {
  seconds: number;
  seed: number;
  log: (line: string) => void;
  /** false: victims only (for telling the server's bugs from the harness's). */
  aborts?: boolean;
  victims?: number;
  aborters?: number;
  /** Request kinds never sent (for narrowing down a failure). */
  skip?: Array<Kind | BadKind>;
}

export interface ServerReport {
  mode: string;
  pid: number;
  port: number;
  /** An exit before we stopped it (a crash); null if it ran to the end. */
  exit: ExitInfo | null;
  fdBaseline: number | null;
  fdEnd: number | null;
  /** What the extra fds at the end are, e.g. "+30 socket, +2 pipe". */
  fdGrowth: string;
  maxRssMiB: number;
  zombies: string[];
  /** Children still running after the settle (CGI programs not reaped or killed). */
  children: string[];
  stderrTail: string[];
}

export interface ChaosReport {
  seed: number;
  seconds: number;
  aborts: boolean;
  replay: string;
  durationMs: number;
  setupErrors: string[];
  victimRequests: Record<string, number>;
  aborterRequests: Record<string, number>;
  abortCounts: Record<string, number>;
  sessions: number;
  responsesChecked: number;
  halfCloseChecked: number;
  bytesChecked: number;
  wrongResponses: number;
  wrongBytes: number;
  cutByExit: number;
  failures: string[];
  failureClasses: Record<string, number>;
  warnings: Record<string, number>;
  maxOpenSockets: number;
  /** Processes working inside the site after the settle (orphaned CGI programs included). */
  leftovers: string[];
  servers: ServerReport[];
  /** One line per property that failed; empty when the run passed. */
  problems: string[];
  ok: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The command that replays a run: `make chaos` for a default run, else the CLI with the same flags. */
export function replayCommand(seed: number, seconds: number, flags: string[] = []): string {
  if (flags.length === 0) return `CHAOS_SEED=${seed} make chaos SECONDS=${seconds}`;
  return `CHAOS_SEED=${seed} node build/test/chaos/chaos.js --seconds ${seconds} ${flags.join(' ')}`;
}

function flagsOf(options: ChaosOptions): string[] {
  const flags: string[] = [];
  if (options.aborts === false) flags.push('--no-aborts');
  if (options.victims !== undefined) flags.push(`--victims ${options.victims}`);
  if (options.aborters !== undefined) flags.push(`--aborters ${options.aborters}`);
  if (options.skip !== undefined && options.skip.length > 0) flags.push(`--skip ${options.skip.join(',')}`);
  return flags;
}

/** The fd count once it has held still for half a second (at most 3 s), else the lowest seen. */
async function quietFdCount(pid: number): Promise<number | null> {
  let last = fdCount(pid);
  let lowest = last;
  let same = 0;
  for (const end = Date.now() + 3000; Date.now() < end && same < 5; ) {
    await sleep(100);
    const now = fdCount(pid);
    if (now === null) return null;
    same = now === last ? same + 1 : 0;
    last = now;
    lowest = lowest === null ? now : Math.min(lowest, now);
  }
  return same >= 5 ? last : lowest;
}

function labels(list: ProcInfo[]): string[] {
  return list.map((p) => describe([p]));
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { seconds, seed, log } = options;
  const withAborts = options.aborts ?? true;
  const victims = options.victims ?? 8;
  const aborters = withAborts ? (options.aborters ?? 16) : 0;
  const replay = replayCommand(seed, seconds, flagsOf(options));
  const started = Date.now();
  const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  log(`chaos: seed ${seed}, ${seconds} s, ${victims} victims, ${aborters} aborters; replay: ${replay}`);

  const stats = new Stats();
  const setupErrors: string[] = [];
  const site: Site = makeSite(seed);
  const procs: PortaProcess[] = [];
  const baselines = new Map<PortaProcess, number | null>();
  const fdEnd = new Map<PortaProcess, number | null>();
  const fdBefore = new Map<PortaProcess, Record<string, number>>();
  const fdAfter = new Map<PortaProcess, Record<string, number>>();
  const maxRss = new Map<PortaProcess, number>();
  const zombies = new Map<PortaProcess, ProcInfo[]>();
  const children = new Map<PortaProcess, ProcInfo[]>();
  let leftovers: ProcInfo[] = [];
  let spooled: string[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let progress: NodeJS.Timeout | undefined;
  const warm: Stop = { stopped: false };
  const stop: Stop = { stopped: false };
  try {
    const starts = await Promise.allSettled([
      startPorta(site.root, 'socket', started, site.spool),
      startPorta(site.root, 'pipe', started, site.spool),
    ]);
    for (const s of starts) {
      if (s.status === 'fulfilled') procs.push(s.value);
      else setupErrors.push(`start: ${(s.reason as Error).message}`);
    }
    for (const proc of procs) {
      log(`porta --cgi-stdout ${proc.mode}: pid ${proc.pid}, port ${proc.port}`);
      void proc.exited.then((info) => {
        if (!proc.expected)
          log(`!! porta (${proc.mode}) EXITED at ${since()}: code ${info.code}, signal ${info.signal}`);
      });
    }
    const sampleRss = () => {
      for (const proc of procs) {
        const kib = rssKiB(proc.pid);
        if (kib !== null) maxRss.set(proc, Math.max(maxRss.get(proc) ?? 0, kib / 1024));
      }
    };
    sampler = setInterval(sampleRss, 500);
    sampleRss();

    const targets: Target[] = await Promise.all(
      procs.map(async (proc) => {
        const skipped = new Set<Kind | BadKind>(options.skip ?? []);
        const ctx: Ctx = { site, mode: proc.mode, etags: new Map(), excluded: new Set(), skipped };
        return { proc, ctx, refs: await fetchRefs(proc, ctx, setupErrors) };
      }),
    );
    log(
      `references: ${targets.map((t) => `${t.proc.mode} ${t.refs.size} keys`).join(', ')}; ${setupErrors.length} errors`,
    );
    for (const e of setupErrors.slice(0, 5)) log(`  setup: ${e}`);

    // Warm-up: victims alone for 1 s, then every client gone and the fd count still.
    const warmLoops = Array.from({ length: victims }, (_, i) => victimLoop(50 + i, seed, targets, stats, warm));
    await sleep(1000);
    warm.stopped = true;
    await Promise.all(warmLoops);
    for (const proc of procs) {
      baselines.set(proc, await quietFdCount(proc.pid));
      fdBefore.set(proc, fdKinds(proc.pid));
    }
    log(`warm-up done at ${since()}: fd baseline ${procs.map((p) => `${p.mode} ${baselines.get(p)}`).join(', ')}`);

    const loops = [
      ...Array.from({ length: victims }, (_, i) => victimLoop(i, seed, targets, stats, stop)),
      ...Array.from({ length: aborters }, (_, i) => aborterLoop(i, seed, targets, stats, stop)),
    ];
    progress = setInterval(() => {
      const aborts = Object.values(stats.aborts).reduce((a, b) => a + b, 0);
      log(
        `${since()}: ${stats.responsesChecked} answers checked, ${stats.wrongResponses} wrong, ${aborts} aborts, ${stats.openSockets} sockets`,
      );
    }, 5000);
    // The load runs its time, or until no server is left.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, seconds * 1000);
      }),
      Promise.all(procs.map((p) => p.exited)),
    ]);
    clearTimeout(timer);
    stop.stopped = true;
    await Promise.all(loops);
    clearInterval(progress);
    log(`load stopped at ${since()}; settling (up to ${SETTLE_MS / 1000} s)`);

    // Settle: every count back where it belongs, or the deadline.
    const live = () => procs.filter((p) => p.exit === null);
    for (const end = Date.now() + SETTLE_MS; ; ) {
      let settled = true;
      for (const proc of live()) {
        const fds = fdCount(proc.pid);
        fdEnd.set(proc, fds);
        const base = baselines.get(proc) ?? null;
        zombies.set(proc, zombiesOf(proc.pid));
        children.set(proc, childrenOf(proc.pid));
        if (fds === null || base === null || fds > base + FD_SLACK || (children.get(proc)?.length ?? 0) > 0)
          settled = false;
      }
      leftovers = processesIn(site.root);
      spooled = readdirSync(site.spool).filter((name) => name.startsWith('porta-body-'));
      if (leftovers.length > 0 || spooled.length > 0) settled = false;
      if (settled || Date.now() >= end) break;
      await sleep(100);
    }
    for (const proc of live()) fdAfter.set(proc, fdKinds(proc.pid));
    sampleRss();
  } catch (err) {
    setupErrors.push(`harness: ${(err as Error).stack ?? String(err)}`);
  } finally {
    warm.stopped = true;
    stop.stopped = true;
    if (sampler !== undefined) clearInterval(sampler);
    if (progress !== undefined) clearInterval(progress);
  }
  const servers: ServerReport[] = procs.map((proc) => ({
    mode: proc.mode,
    pid: proc.pid,
    port: proc.port,
    exit: proc.exit,
    fdBaseline: baselines.get(proc) ?? null,
    fdEnd: fdEnd.get(proc) ?? null,
    fdGrowth: fdAfter.has(proc) ? fdGrowth(fdBefore.get(proc) ?? {}, fdAfter.get(proc) ?? {}) : '',
    maxRssMiB: maxRss.get(proc) ?? 0,
    zombies: labels(zombies.get(proc) ?? []),
    children: labels((children.get(proc) ?? []).filter((p) => p.state !== 'Z')),
    stderrTail: proc.stderrTail(50),
  }));
  await Promise.all(procs.map((p) => p.stop()));
  site.remove();

  const problems: string[] = [];
  if (setupErrors.length > 0)
    problems.push(`${setupErrors.length} setup errors (answers wrong without any chaos): ${setupErrors[0]}`);
  for (const s of servers) {
    const name = `porta (${s.mode})`;
    if (s.exit !== null)
      problems.push(
        `${name} exited at ${(s.exit.atMs / 1000).toFixed(1)} s: code ${s.exit.code}, signal ${s.exit.signal}`,
      );
    if (s.zombies.length > 0) problems.push(`${name}: ${s.zombies.length} zombies: ${s.zombies.join(', ')}`);
    if (s.children.length > 0)
      problems.push(`${name}: ${s.children.length} children still running: ${s.children.join(', ')}`);
    if (s.exit === null && (s.fdEnd === null || s.fdBaseline === null || s.fdEnd > s.fdBaseline + FD_SLACK)) {
      problems.push(
        `${name}: ${s.fdEnd} fds at the end, baseline ${s.fdBaseline} (+${FD_SLACK} allowed): ${s.fdGrowth}`,
      );
    }
    if (s.maxRssMiB > RSS_LIMIT_MIB)
      problems.push(`${name}: RSS reached ${s.maxRssMiB.toFixed(1)} MiB (limit ${RSS_LIMIT_MIB})`);
  }
  if (stats.wrongResponses > 0)
    problems.push(
      `${stats.wrongResponses} wrong answers, ${stats.wrongBytes} wrong bytes; first: ${stats.failures[0]}`,
    );
  if (leftovers.length > 0) problems.push(`${leftovers.length} processes left in the site: ${describe(leftovers)}`);
  if (spooled.length > 0) problems.push(`${spooled.length} spooled request bodies left: ${spooled.join(', ')}`);
  if (stats.maxOpenSockets > MAX_SOCKETS)
    problems.push(`the harness had ${stats.maxOpenSockets} sockets open (bound ${MAX_SOCKETS})`);
  if (stats.responsesChecked === 0) problems.push('no answer was checked at all');
  for (const p of problems) log(`FAIL (seed ${seed}): ${p}`);
  if (problems.length > 0) log(`replay: ${replay}`);

  return {
    seed,
    seconds,
    aborts: withAborts,
    replay,
    durationMs: Date.now() - started,
    setupErrors,
    victimRequests: stats.victimRequests,
    aborterRequests: stats.aborterRequests,
    abortCounts: stats.aborts,
    sessions: stats.sessions,
    responsesChecked: stats.responsesChecked,
    halfCloseChecked: stats.halfCloseChecked,
    bytesChecked: stats.bytesChecked,
    wrongResponses: stats.wrongResponses,
    wrongBytes: stats.wrongBytes,
    cutByExit: stats.cutByExit,
    failures: stats.failures,
    failureClasses: stats.failureClasses,
    warnings: stats.warnings,
    maxOpenSockets: stats.maxOpenSockets,
    leftovers: labels(leftovers),
    servers,
    problems,
    ok: problems.length === 0,
  };
}

function parseSeed(text: string | undefined): number | null {
  if (text === undefined || text.trim() === '') return null;
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new Error(`a seed is a whole number 0..4294967295, not "${text}"`);
  return n;
}

export function seedFromEnv(): number {
  return parseSeed(process.env.CHAOS_SEED) ?? randomInt(0, 0xffffffff);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      'no-aborts': { type: 'boolean' },
      victims: { type: 'string' },
      aborters: { type: 'string' },
      skip: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds ?? process.env.CHAOS_SECONDS ?? 20);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new Error(`--seconds wants a positive number, not "${values.seconds}"`);
  const seed = parseSeed(values.seed) ?? seedFromEnv();
  const skip = (values.skip ?? '').split(',').filter((k) => k !== '');
  const known: readonly string[] = [...KINDS, ...BAD_KINDS];
  for (const k of skip) if (!known.includes(k)) throw new Error(`--skip: no kind "${k}" (${known.join(', ')})`);
  const report = await runChaos({
    seconds,
    seed,
    log: (line) => process.stderr.write(`${line}\n`),
    aborts: values['no-aborts'] !== true,
    ...(values.victims === undefined ? {} : { victims: Number(values.victims) }),
    ...(values.aborters === undefined ? {} : { aborters: Number(values.aborters) }),
    skip: skip as Array<Kind | BadKind>,
  });
  process.stdout.write(`${formatReport(report).join('\n')}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  });
}
