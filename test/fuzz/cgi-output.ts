// The CGI output fuzzer: a fake program (cgi-program.ts) answers through the
// real path, Connection → ConnectionExchange → CgiHost → CgiRun → CgiRelay,
// in pipe mode, over a FakeSocket. Whatever the program says and however it
// ends, the client must get one answer that is either a well-formed 502/504
// (or what a local redirect or X-Sendfile leads to), or the program's body
// exactly framed: never a byte past its Content-Length (and a close when it
// wrote more), a terminating chunk only when it exited 0, a cut-off answer
// only with the connection destroyed. Afterwards every pipe is consumed or
// closed, every program reaped, every slot given back, nothing thrown.
//
//   node build/test/fuzz/cgi-output.js --count 100000 [--seed S] [--parser wasm|native|both]

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgiHost } from '../../src/cgi/host';
import { defaultLimits, defaultSettings, type Limits, type Settings } from '../../src/config';
import { createHandlers } from '../../src/dispatch';
import type { Dispatch } from '../../src/http/exchange';
import { deriveSeed, Rng } from '../chaos/rng';
import { judgeCgi } from './cgi-judge';
import { FakeLauncher } from './cgi-program';
import { type CgiInput, generateCgiInput } from './cgi-gen';
import { type Failure, FailureBook, formatFailure } from './failures';
import { EscapeGuard, type FuzzFlags, HeapSampler, parseFlags, Probe, settle, unignored, sleep, turn } from './harness';
import { buildSite, type FuzzSite } from './site';
import { bytesJson, readResponses } from './wire';

type ParserName = 'wasm' | 'native';

const INPUT_BUDGET_MS = 3000;
const HEAP_SAMPLE_EVERY = 2000;
const HEAP_GROWTH_LIMIT_MIB = 48;

/** Short CGI timeouts, so a program that hangs costs milliseconds; limits small enough to reach. */
const CGI_LIMITS: Partial<Limits> = {
  cgiTimeoutMs: 25,
  cgiKillGraceMs: 5,
  cgiMaxHeaderSize: 2048,
  cgiMaxStderr: 4096,
  cgiBodyMemory: 1024,
};

interface CgiWorld {
  settings: Settings;
  dispatch: Dispatch;
  host: CgiHost;
  launcher: FakeLauncher;
}

/** dispatch.ts's own handlers, with the fake launcher in place of a real one. */
function makeWorld(site: FuzzSite, parser: ParserName): CgiWorld {
  const limits: Limits = { ...defaultLimits, ...CGI_LIMITS };
  const settings: Settings = {
    ...defaultSettings,
    root: site.root,
    parser,
    cgiStdout: 'pipe',
    cgiDirs: ['/cgi-bin'],
    cgiInterpreters: {},
    cgiPassEnv: [],
    limits,
  };
  const launcher = new FakeLauncher();
  const handlers = createHandlers(settings, { launcher });
  return { settings, dispatch: handlers.dispatch, host: handlers.cgi, launcher };
}

function addProgram(site: FuzzSite): void {
  const dir = join(site.root, 'cgi-bin');
  mkdirSync(dir, { recursive: true });
  // Never executed: the fake launcher plays it. Routing wants an executable file.
  writeFileSync(join(dir, 'prog'), '#!/bin/sh\nexit 99\n');
  chmodSync(join(dir, 'prog'), 0o755);
}

export interface CgiFuzzReport {
  seed: number;
  inputs: number;
  seconds: number;
  failures: FailureBook;
  statuses: Map<number, number>;
  framings: Map<string, number>;
  heap: Array<{ inputs: number; heapMiB: number; rssMiB: number }>;
}

async function runInput(
  input: CgiInput,
  world: CgiWorld,
): Promise<{ problems: string[]; details: string[]; firstStatus: number | null; framing: string }> {
  const deadline = performance.now() + INPUT_BUDGET_MS;
  const { launcher } = world;
  launcher.reset(input.plan);
  const probe = new Probe(world.settings, world.dispatch, input.highWaterMark);
  const socket = probe.socket;
  const problems: string[] = [];
  if (input.slowReader) socket.setPeerReading(false);
  let offset = 0;
  for (const size of input.reads) {
    socket.peerWrite(input.request.subarray(offset, offset + size));
    offset += size;
    await turn();
  }
  if (input.fin === 'now') socket.peerEnd();
  if (input.resetAfterTurns !== null) {
    for (let i = 0; i < input.resetAfterTurns; i++) await turn();
    socket.peerReset();
  }
  if (input.slowReader) {
    for (let i = 0; i < 4; i++) await turn();
    socket.setPeerReading(true);
  }
  const busy = (): boolean => launcher.busy;
  let settled = await settle(probe, deadline, busy);
  const early = readResponses(socket.received(), (i) => i === 0 && input.head, false).responses;
  if (settled && early.some((r) => r.closes && r.complete && !r.interim) && !socket.serverClosed) {
    problems.push('a response said Connection: close but the socket was not ended');
  }
  if (settled && input.fin === 'later') {
    socket.peerEnd();
    settled = await settle(probe, deadline, busy);
  }
  for (let round = 0; settled && round < 4 && !(probe.closed && socket.closeEmitted); round++) {
    probe.expire();
    settled = await settle(probe, deadline, busy);
  }
  // Programs stopped for a client that left are still being reaped: wait for that too.
  while (launcher.busy && performance.now() < deadline) await sleep(1);
  if (!settled || launcher.busy)
    problems.push(`hang: connection ${probe.connection.state}, programs busy ${launcher.busy}`);
  else if (!probe.closed || !socket.closeEmitted) problems.push(`never closed: left ${probe.connection.state}`);
  if (probe.onClosedCalls !== (probe.closed ? 1 : 0)) problems.push(`onClosed called ${probe.onClosedCalls} times`);
  for (const code of socket.errors) if (code !== 'ECONNRESET') problems.push(`socket error ${code}`);
  for (const line of probe.internalErrors) problems.push(`porta logged: ${line.slice(0, 300)}`);
  const load = world.host.load;
  if (load.running !== 0 || load.queued !== 0)
    problems.push(`slots not given back: ${load.running} running, ${load.queued} queued`);
  launcher.children.forEach((child, i) => {
    const pipes: string[] = [];
    if (!child.stdout.readableEnded && !child.stdout.destroyed) pipes.push('stdout');
    if (!child.stderr.readableEnded && !child.stderr.destroyed) pipes.push('stderr');
    if (child.stdin !== null && !child.stdin.writableEnded && !child.stdin.destroyed) pipes.push('stdin');
    if (pipes.length > 0) problems.push(`program ${i}: ${pipes.join(', ')} neither consumed nor closed`);
    if (child.lateSignals.length > 0) {
      problems.push(`program ${i} was sent ${child.lateSignals.join('+')} after it was reaped and its group was gone`);
    }
  });
  probe.flushLog();
  const verdict = judgeCgi(input, launcher, probe);
  problems.push(...verdict.problems);
  const details = [
    `program: ${input.notes.join('; ')}`,
    `output: ${bytesJson(launcher.children[0]?.output.subarray(0, 1500) ?? Buffer.alloc(0))}`,
    `exits: ${launcher.children.map((c) => `${JSON.stringify(c.exitStatus)} after ${c.signals.join('+') || 'no signal'}`).join(', ')}`,
    `request: ${bytesJson(input.request.subarray(0, 300))} reads ${JSON.stringify(input.reads)}, fin ${input.fin}, slow ${input.slowReader}, reset ${input.resetAfterTurns}, hwm ${input.highWaterMark}`,
    `wire: ${bytesJson(socket.received().subarray(0, 1500))}`,
    `socket: fin sent ${socket.finSent}, destroyed ${socket.destroyed}, reset ${socket.reset}`,
    ...probe.errorTail.map((l) => `log: ${l.slice(0, 300)}`),
  ];
  return { problems, details, firstStatus: verdict.firstStatus, framing: verdict.framing };
}

export interface CgiFuzzOptions extends FuzzFlags {
  log: (line: string) => void;
}

export async function runCgiFuzz(options: CgiFuzzOptions): Promise<CgiFuzzReport> {
  const { seed, log } = options;
  const parsers: ParserName[] = options.parser === 'both' ? ['wasm', 'native'] : [options.parser];
  const site = buildSite();
  addProgram(site);
  const worlds = new Map(parsers.map((p) => [p, makeWorld(site, p)] as const));
  const guard = new EscapeGuard();
  const heap = new HeapSampler();
  const report: CgiFuzzReport = {
    seed,
    inputs: 0,
    seconds: 0,
    failures: new FailureBook(),
    statuses: new Map(),
    framings: new Map(),
    heap: heap.samples,
  };
  const started = performance.now();
  let lastReport = started;
  guard.install();
  try {
    const first = options.index ?? 0;
    const end = options.index === null ? options.count : options.index + 1;
    for (let index = first; index < end && report.failures.kinds < options.maxFailures; index++) {
      const parser = parsers[index % parsers.length] as ParserName;
      let world = worlds.get(parser) as CgiWorld;
      if (world.host.load.running !== 0 || world.host.load.queued !== 0) {
        // A slot leaked by an earlier input (reported there): start clean, or every input after it fails too.
        world = makeWorld(site, parser);
        worlds.set(parser, world);
      }
      const input = generateCgiInput(new Rng(deriveSeed(seed, index)), site.root);
      const mark = guard.escaped.length;
      const outcome = await runInput(input, world);
      await turn();
      const problems = unignored(
        [...guard.since(mark).map((e) => `escaped: ${e}`), ...outcome.problems],
        options.ignore,
      );
      if (outcome.firstStatus !== null)
        report.statuses.set(outcome.firstStatus, (report.statuses.get(outcome.firstStatus) ?? 0) + 1);
      report.framings.set(outcome.framing, (report.framings.get(outcome.framing) ?? 0) + 1);
      if (options.verbose)
        log(`#${index}: ${outcome.firstStatus} ${outcome.framing}\n  ${outcome.details.join('\n  ')}`);
      if (problems.length > 0) {
        const failure: Failure = {
          seed,
          index,
          parser,
          reason: problems[0] as string,
          details: [
            ...problems.slice(1),
            ...outcome.details,
            `replay: node build/test/fuzz/cgi-output.js --seed ${seed} --index ${index} --parser ${parser}`,
          ],
        };
        if (report.failures.record(failure)) log(formatFailure(failure));
      }
      report.inputs++;
      if (report.inputs % HEAP_SAMPLE_EVERY === 0) {
        const grown = heap.sample(report.inputs, HEAP_GROWTH_LIMIT_MIB);
        if (grown !== null) report.failures.record({ seed, index, parser, reason: grown, details: [] });
      }
      const now = performance.now();
      if (now - lastReport > 10_000) {
        lastReport = now;
        log(
          `${report.inputs} inputs, ${(report.inputs / ((now - started) / 1000)).toFixed(0)}/s, ${report.failures.failed} failed`,
        );
      }
    }
  } finally {
    guard.uninstall();
    site.remove();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

export function cgiSummary(report: CgiFuzzReport): string[] {
  const sorted = <K>(m: Map<K, number>): string =>
    [...m.entries()]
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
      .map(([k, n]) => `${String(k)}×${n}`)
      .join(' ');
  return [
    `seed ${report.seed}: ${report.inputs} programs in ${report.seconds.toFixed(1)} s (${(report.inputs / report.seconds).toFixed(0)}/s), ${report.failures.failed} failed`,
    ...report.failures.lines(),
    `first answers ${sorted(report.statuses)}`,
    `framings ${sorted(report.framings)}`,
    `heap after GC (MiB, every ${HEAP_SAMPLE_EVERY}): ${report.heap.map((h) => h.heapMiB.toFixed(1)).join(' ') || '(no sample)'}`,
  ];
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { count: 5000 });
  console.log(
    `CGI output fuzzer: seed ${flags.seed}, ${flags.index === null ? `${flags.count} programs` : `program ${flags.index}`}, parser ${flags.parser}`,
  );
  const report = await runCgiFuzz({ ...flags, log: (line) => console.log(line) });
  for (const line of cgiSummary(report)) console.log(line);
  process.exitCode = report.failures.failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  });
}
