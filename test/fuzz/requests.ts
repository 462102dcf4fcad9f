// The request fuzzer: mutated requests (request-gen.ts) through the real
// Connection on a FakeSocket, both llhttp builds, static files behind it, all
// in process. For each input it asserts: nothing escaped and porta logged no
// internal error, no hang, the connection reached `closed` once, what it sent
// is well-formed HTTP/1.1 with exact framing, no more answers than requests,
// Connection: close followed by the end of the socket, known files served
// byte for byte; then a fresh connection's valid GET still gets the file.
// Heap after GC is sampled as it runs and must not keep growing.
//
//   node build/test/fuzz/requests.js --count 1000000 [--seed S] [--parser wasm|native|both]
//   node build/test/fuzz/requests.js --seed S --index I --parser P     (replay one input)

import { defaultLimits, defaultSettings, type Settings } from '../../src/config';
import { createHandlers } from '../../src/dispatch';
import type { Dispatch } from '../../src/http/exchange';
import { deriveSeed, Rng } from '../chaos/rng';
import { EscapeGuard, type FuzzFlags, HeapSampler, parseFlags, Probe, settle, unignored, turn } from './harness';
import { ECHO_PATH, echo } from './echo';
import { type Failure, FailureBook, formatFailure } from './failures';
import { type FuzzInput, generateInput } from './request-gen';
import { buildSite, type FuzzSite, HELLO } from './site';
import { bytesJson, field, readResponses, type WireResponse } from './wire';

type ParserName = 'wasm' | 'native';

interface FuzzContext {
  parser: ParserName;
  tight: boolean;
  settings: Settings;
  dispatch: Dispatch;
}

export interface RequestFuzzReport {
  seed: number;
  inputs: number;
  connections: number;
  seconds: number;
  failures: FailureBook;
  statuses: Map<number, number>;
  truncated: number;
  /**
   * Inputs on which the two builds answered differently, by the first status
   * that differs (not failures: timing explains some, see the report).
   */
  disagreements: Map<string, { count: number; example: string }>;
  heap: Array<{ inputs: number; heapMiB: number; rssMiB: number }>;
}

/** Per-input wall-clock bound: an input still running after it is a hang. */
const INPUT_BUDGET_MS = 2000;
const HEAP_SAMPLE_EVERY = 5000;
/** Heap after GC may rise this far above the first sample, and no further. */
export const HEAP_GROWTH_LIMIT_MIB = 48;

const TIGHT = { maxHeaderSize: 1024, maxUrlLength: 256, maxBodySize: 64, maxRequestsPerConnection: 3 };

function makeContexts(site: FuzzSite, parsers: readonly ParserName[]): Map<string, FuzzContext> {
  const contexts = new Map<string, FuzzContext>();
  for (const parser of parsers) {
    for (const tight of [false, true]) {
      const settings: Settings = {
        ...defaultSettings,
        root: site.root,
        quiet: true,
        parser,
        cgiDirs: [],
        cgiExtensions: [],
        cgiSpawn: 'child_process',
        limits: { ...defaultLimits, ...(tight ? TIGHT : {}) },
      };
      const files = createHandlers(settings).dispatch;
      const dispatch: Dispatch = (exchange) => (exchange.request.path === ECHO_PATH ? echo(exchange) : files(exchange));
      contexts.set(`${parser}/${tight}`, { parser, tight, settings, dispatch });
    }
  }
  return contexts;
}

interface Outcome {
  problems: string[];
  /** Final statuses, plus how the connection ended: the two builds should agree on it. */
  signature: string;
  statuses: number[];
  truncated: boolean;
  wire: Buffer;
  errorTail: string[];
}

/** Feed one input through a fresh connection and judge what came out. */
async function runInput(input: FuzzInput, ctx: FuzzContext, site: FuzzSite): Promise<Outcome> {
  const deadline = performance.now() + INPUT_BUDGET_MS;
  const probe = new Probe(ctx.settings, ctx.dispatch, input.highWaterMark);
  const socket = probe.socket;
  const problems: string[] = [];
  if (input.slowReader) socket.setPeerReading(false);
  let offset = 0;
  for (let i = 0; i <= input.reads.length; i++) {
    if (input.resetAt === i) socket.peerReset();
    if (input.shutdownAt === i) probe.connection.shutdown();
    const size = input.reads[i];
    if (size === undefined) break;
    if (input.pauses[i] === true) await turn();
    socket.peerWrite(input.bytes.subarray(offset, offset + size));
    offset += size;
  }
  if (input.fin === 'now') socket.peerEnd();
  socket.setPeerReading(true);
  let settled = await settle(probe, deadline);
  // Looked at before anything is forced: a response that says close must have ended the socket.
  probe.flushLog();
  const early = readResponses(socket.received(), (i) => probe.access[i]?.method === 'HEAD', false).responses;
  if (settled && early.some((r) => r.closes && r.complete) && !socket.serverClosed) {
    problems.push('a response said Connection: close but the socket was not ended');
  }
  if (settled && input.fin === 'later') {
    socket.peerEnd();
    settled = await settle(probe, deadline);
  }
  // What a quiet connection waits for, forced: timeouts (408, keep-alive end, linger end).
  for (let round = 0; settled && round < 4 && !(probe.closed && socket.closeEmitted); round++) {
    probe.expire();
    settled = await settle(probe, deadline);
  }
  if (!settled) problems.push(`hang: still ${probe.connection.state} after ${INPUT_BUDGET_MS} ms`);
  else if (!probe.closed) problems.push(`never closed: left ${probe.connection.state} after every timeout`);
  else if (!socket.closeEmitted || !socket.destroyed) problems.push('closed, but the socket was not destroyed');
  if (probe.onClosedCalls > 1) problems.push(`onClosed called ${probe.onClosedCalls} times`);
  if (probe.closed && probe.onClosedCalls === 0) problems.push('closed without onClosed');
  for (const code of socket.errors) if (code !== 'ECONNRESET') problems.push(`socket error ${code}`);
  for (const line of probe.internalErrors) problems.push(`porta logged: ${line.slice(0, 300)}`);
  probe.flushLog();

  const wire = socket.received();
  const access = probe.access;
  const reading = readResponses(wire, (i) => access[i]?.method === 'HEAD', true);
  if (reading.error !== null) problems.push(`malformed response stream: ${reading.error}`);
  const finals = reading.responses.filter((r) => !r.interim);
  const requestLines = countOf(input.bytes, 'HTTP/') + 1;
  if (finals.length > requestLines) problems.push(`${finals.length} responses to at most ${requestLines} requests`);
  const batch = input.bodies?.length ?? 0;
  const undisturbed = input.resetAt === null && input.shutdownAt === null && !input.tight;
  if (input.persistent && undisturbed && finals.length !== batch) {
    problems.push(`${finals.length} answers to ${batch} well-formed persistent requests`);
  }
  let truncated = false;
  const aborted = probe.errors.some((line) => line.includes('response aborted'));
  // A static file never lies about its length or fails to read: these are porta's own faults here.
  for (const line of probe.errors) {
    if (
      /Content-Length said|longer than its Content-Length|file read failed|could not be read|changed while/.test(line)
    ) {
      problems.push(`porta logged: ${line.trimEnd().slice(0, 300)}`);
    }
  }
  finals.forEach((r, i) => {
    const last = i === finals.length - 1;
    if (!r.complete) {
      truncated = true;
      if (!last) problems.push(`response ${i} cut short but not last`);
      else if (socket.finSent && !socket.reset && r.framing === 'close') {
        // A FIN after a cut length or chunked body is visible truncation; after a
        // close-delimited one it would pass for the end: only a reset will do.
        problems.push(`response ${i} (${r.status}) close-delimited and cut short, yet ended with a FIN`);
      } else if (!socket.reset && socket.lostBytes === 0 && !aborted) {
        // Cut short with nothing lost in the socket and no abort logged: porta sent less than it declared.
        problems.push(`response ${i} (${r.status}) cut short, with no reset, no abort and nothing left unsent`);
      }
    }
    if (r.closes && !last) problems.push(`response ${i} said Connection: close, yet response ${i + 1} followed`);
    if (r.status === 500 || (r.status >= 502 && r.status !== 505)) problems.push(`response ${i} is a ${r.status}`);
    const logged = access[i];
    if (logged !== undefined && logged.status !== r.status) {
      problems.push(`response ${i} is ${r.status} on the wire, ${logged.status} in the access log`);
    }
    // An unmutated input: what /echo answers is exactly the body sent (its requests and answers pair up).
    const sent = input.bodies?.[i];
    if (sent !== undefined && r.status === 200 && r.complete && logged?.target?.startsWith(ECHO_PATH) === true) {
      if (!r.body.equals(sent))
        problems.push(`response ${i} echoed ${r.body.length} bytes of a ${sent.length}-byte body`);
    }
    const expected = logged?.method === 'GET' ? expectedBody(site, logged.target, r) : null;
    if (expected !== null && r.complete && !r.body.equals(expected)) {
      problems.push(`response ${i} to GET ${logged?.target}: wrong body (${r.body.length} bytes)`);
    }
  });
  const statuses = finals.map((r) => r.status);
  return {
    problems,
    signature: `${statuses.join(',')} ${finals.map((r) => (r.complete ? '' : 'cut')).join(',')}`,
    statuses,
    truncated,
    wire,
    errorTail: probe.errorTail,
  };
}

/** How the builds' answers to one input differ, or null when they do not. */
function disagreement(wasm: Outcome, native: Outcome): string | null {
  if (wasm.signature === native.signature) return null;
  const a = wasm.statuses;
  const b = native.statuses;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `wasm ${a[i] ?? 'nothing'} / native ${b[i] ?? 'nothing'}`;
  }
  return 'one build cut an answer short';
}

function countOf(haystack: Buffer, needle: string): number {
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) n++;
  return n;
}

/** The bytes a 200 or 206 to GET `target` must carry, when the target names a site file plainly. */
function expectedBody(site: FuzzSite, target: string | null, r: WireResponse): Buffer | null {
  if (target === null) return null;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const coding = field(r, 'content-encoding');
  const file = site.files.get(coding === 'gzip' ? `${path}.gz` : coding === undefined ? path : '');
  if (file === undefined) return null;
  if (r.status === 200) return file;
  if (r.status !== 206) return null;
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(field(r, 'content-range') ?? '');
  if (m === null || Number(m[3]) !== file.length) return Buffer.from('(a 206 without a matching Content-Range)');
  return file.subarray(Number(m[1]), Number(m[2]) + 1);
}

/** "A valid request still works": a fresh connection's GET gets the file, kept alive, then closes on FIN. */
async function healthCheck(ctx: FuzzContext): Promise<string | null> {
  const probe = new Probe(ctx.settings, ctx.dispatch, 16 * 1024);
  probe.socket.peerWrite(Buffer.from('GET /hello.txt HTTP/1.1\r\nHost: fuzz\r\n\r\n'));
  probe.socket.peerEnd();
  const settled = await settle(probe, performance.now() + INPUT_BUDGET_MS);
  const wire = probe.socket.received();
  const { responses, error } = readResponses(wire, () => false, true);
  const r = responses[0];
  if (!settled) return 'the valid GET hung';
  if (error !== null || responses.length !== 1 || r === undefined) return `the valid GET got ${bytesJson(wire)}`;
  if (r.status !== 200 || !r.body.equals(HELLO) || r.closes) return `the valid GET got ${bytesJson(wire)}`;
  if (!probe.closed || !probe.socket.finSent)
    return `after the valid GET and FIN the connection is ${probe.connection.state}`;
  return null;
}

export interface RequestFuzzOptions extends FuzzFlags {
  log: (line: string) => void;
}

export async function runRequestFuzz(options: RequestFuzzOptions): Promise<RequestFuzzReport> {
  const { seed, log } = options;
  const parsers: ParserName[] = options.parser === 'both' ? ['wasm', 'native'] : [options.parser];
  const site = buildSite();
  const contexts = makeContexts(site, parsers);
  const guard = new EscapeGuard();
  const heap = new HeapSampler();
  const report: RequestFuzzReport = {
    seed,
    inputs: 0,
    connections: 0,
    seconds: 0,
    failures: new FailureBook(),
    statuses: new Map(),
    truncated: 0,
    disagreements: new Map(),
    heap: heap.samples,
  };
  const started = performance.now();
  let lastReport = started;
  guard.install();
  try {
    const first = options.index ?? 0;
    const end = options.index === null ? options.count : options.index + 1;
    for (let index = first; index < end && report.failures.kinds < options.maxFailures; index++) {
      const input = generateInput(new Rng(deriveSeed(seed, index)));
      const outcomes: Outcome[] = [];
      for (const parser of parsers) {
        const ctx = contexts.get(`${parser}/${input.tight}`) as FuzzContext;
        const mark = guard.escaped.length;
        const outcome = await runInput(input, ctx, site);
        const health = await healthCheck(ctx);
        report.connections += 2;
        const problems = unignored(
          [...guard.since(mark).map((e) => `escaped: ${e}`), ...outcome.problems],
          options.ignore,
        );
        if (health !== null) problems.push(health);
        for (const s of outcome.statuses) report.statuses.set(s, (report.statuses.get(s) ?? 0) + 1);
        if (outcome.truncated) report.truncated++;
        outcomes.push(outcome);
        if (options.verbose) {
          log(
            `#${index} ${parser}: ${outcome.statuses.join(',')}\n  input ${bytesJson(input.bytes)}\n  ${describe(input).join('\n  ')}\n  wire ${bytesJson(outcome.wire)}`,
          );
        }
        if (problems.length > 0) {
          const failure: Failure = {
            seed,
            index,
            parser,
            reason: problems[0] as string,
            details: [
              ...problems.slice(1),
              `input ${bytesJson(input.bytes)}`,
              ...describe(input),
              `wire: ${bytesJson(outcome.wire.subarray(0, 2000))}`,
              ...outcome.errorTail.map((l) => `log: ${l.slice(0, 300)}`),
              `replay: node build/test/fuzz/requests.js --seed ${seed} --index ${index} --parser ${parser}`,
            ],
          };
          if (report.failures.record(failure)) log(formatFailure(failure));
        }
      }
      const [wasm, native] = outcomes;
      if (wasm !== undefined && native !== undefined && input.resetAt === null && input.shutdownAt === null) {
        const kind = disagreement(wasm, native);
        if (kind !== null) {
          const known = report.disagreements.get(kind);
          if (known !== undefined) known.count++;
          else
            report.disagreements.set(kind, {
              count: 1,
              example: `--index ${index}: ${bytesJson(input.bytes).slice(0, 300)}`,
            });
        }
      }
      report.inputs++;
      if (report.inputs % HEAP_SAMPLE_EVERY === 0) {
        const grown = heap.sample(report.inputs, HEAP_GROWTH_LIMIT_MIB);
        if (grown !== null) report.failures.record({ seed, index, parser: options.parser, reason: grown, details: [] });
      }
      const now = performance.now();
      if (now - lastReport > 10_000) {
        lastReport = now;
        const rate = report.inputs / ((now - started) / 1000);
        log(`${report.inputs} inputs, ${rate.toFixed(0)}/s, ${report.failures.failed} failed`);
      }
    }
    // Let anything the last input left behind surface here, not in the next test.
    await turn();
  } finally {
    guard.uninstall();
    site.remove();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

function describe(input: FuzzInput): string[] {
  return [
    `reads ${JSON.stringify(input.reads)} pauses ${input.pauses.map((p) => (p ? 1 : 0)).join('')}`,
    `fin ${input.fin}, slow reader ${input.slowReader}, reset at ${input.resetAt}, shutdown at ${input.shutdownAt}, ` +
      `hwm ${input.highWaterMark}, tight limits ${input.tight}`,
    `mutations: ${input.notes.join('; ')}`,
  ];
}

export function summary(report: RequestFuzzReport): string[] {
  const statuses = [...report.statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`);
  const heap = report.heap.map((h) => `${h.heapMiB.toFixed(1)}`).join(' ');
  return [
    `seed ${report.seed}: ${report.inputs} inputs, ${report.connections} connections in ${report.seconds.toFixed(1)} s ` +
      `(${(report.inputs / report.seconds).toFixed(0)} inputs/s), ${report.failures.failed} failed`,
    ...report.failures.lines(),
    `statuses ${statuses.join(' ')}; ${report.truncated} cut short (connection destroyed)`,
    `the two llhttp builds answered differently ${[...report.disagreements.values()].reduce((n, d) => n + d.count, 0)} times:`,
    ...[...report.disagreements.entries()]
      .sort((a, b) => b[1].count - a[1].count)
      .map(([kind, d]) => `  ${d.count}× ${kind}, e.g. ${d.example}`),
    `heap after GC (MiB, every ${HEAP_SAMPLE_EVERY} inputs): ${heap === '' ? '(no sample)' : heap}`,
  ];
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { count: 10_000 });
  console.log(
    `request fuzzer: seed ${flags.seed}, ${flags.index === null ? `${flags.count} inputs` : `input ${flags.index}`}, parser ${flags.parser}`,
  );
  const report = await runRequestFuzz({ ...flags, log: (line) => console.log(line) });
  for (const line of summary(report)) console.log(line);
  process.exitCode = report.failures.failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  });
}
