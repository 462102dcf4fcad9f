// W1…W9 and `parser`: which servers, which load, which figure is compared
// (W6 and W7, what a server costs beside its rate, in resources.ts).

import { closeLoad } from './closeload';
import { HELLO_PY_TEXT, HELLO_SH_TEXT, type Docroot } from './docroot';
import { w6, w7 } from './resources';
import { startupFloor } from './floor';
import {
  chosen,
  closeSample,
  runAlternating,
  type Context,
  type Sample,
  type Step,
  type WorkloadResult,
  WARMUP_S,
} from './harness';
import { keepLoad } from './keepload';
import { cannon, type CannonOptions } from './load';
import { PARSER_KINDS, parserRate, parserSkip, pipelinedRequests } from './parser';
import { startServer, type RunningServer, type ServerName } from './servers';
import { availableParallelism } from 'node:os';
import { wrk, wrkMissing } from './wrk';
import { treeCpuSeconds } from './util';

export const WORKLOAD_NAMES = [
  'W1',
  'W2',
  'W1-wrk',
  'W2-wrk',
  'W3',
  'W4',
  'W5',
  'W6',
  'W7',
  'W8',
  'W9',
  'parser',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

/**
 * Start every chosen server (skipped ones stay as rows with their reason),
 * run `load` against each in turn per round, and stop them all at the end.
 */
async function serverWorkload(
  ctx: Context,
  docroot: Docroot,
  spec: {
    name: string;
    title: string;
    tool: string;
    ratioMetric: 'rps' | 'mibps';
    ratioNote: string;
    servers: { name: ServerName; skip: string | undefined }[];
    /** The row the others are compared with (default porta). */
    reference?: ServerName;
    load(port: number, durationS: number): Promise<Sample>;
    /** Measured in turn with the servers (the CGI start-up floor). */
    extraSteps?: Step[];
    notes?: string[];
  },
): Promise<WorkloadResult> {
  const running: RunningServer[] = [];
  try {
    const steps: Step[] = [];
    for (const { name, skip } of spec.servers) {
      if (skip !== undefined) {
        steps.push({ labels: [name], skipped: skip, measure: () => Promise.reject(new Error('skipped')) });
        continue;
      }
      let started: Awaited<ReturnType<typeof startServer>>;
      try {
        started = await startServer(name, docroot);
      } catch (err) {
        // One peer that will not start costs its row, not the workload.
        ctx.progress(`${spec.name}: ${name} failed to start: ${(err as Error).message}`);
        started = { ok: false as const, skipped: `FAILED to start: ${(err as Error).message.split('\n')[0] ?? ''}` };
      }
      if (!started.ok) {
        steps.push({ labels: [name], skipped: started.skipped, measure: () => Promise.reject(new Error('skipped')) });
        continue;
      }
      const server = started.server;
      running.push(server);
      steps.push({
        labels: [name],
        warmup: async () => void (await spec.load(server.port, WARMUP_S)),
        measure: async () => {
          // The server's own CPU per request, beside the rate the client reached.
          const cpuBefore = treeCpuSeconds(server.pid);
          const measured = await spec.load(server.port, ctx.durationS);
          const requests = measured.rps * ctx.durationS;
          const cpu = treeCpuSeconds(server.pid) - cpuBefore;
          if (requests > 0) measured.extra['server CPU µs/req'] = (cpu * 1e6) / requests;
          return { [name]: measured };
        },
      });
    }
    steps.push(...(spec.extraSteps ?? []));
    return await runAlternating(ctx, {
      name: spec.name,
      title: spec.title,
      tool: spec.tool,
      ratioMetric: spec.ratioMetric,
      reference: spec.reference ?? 'porta',
      ratioNote: spec.ratioNote,
      steps,
      notes: spec.notes ?? [],
    });
  } finally {
    for (const server of running) await server.stop();
  }
}

const STATIC: ServerName[] = ['porta', 'node', 'nginx', 'nginx-2w', 'lighttpd', 'python'];
const CGI: ServerName[] = ['porta', 'porta-pipe', 'nginx', 'lighttpd', 'python'];

function w1(ctx: Context, docroot: Docroot, name = 'W1', pipelining = 1): Promise<WorkloadResult> {
  const options = (port: number, durationS: number): CannonOptions => ({
    port,
    path: '/1k.bin',
    connections: 50,
    pipelining,
    durationS,
  });
  const pipelined = pipelining > 1;
  return serverWorkload(ctx, docroot, {
    name,
    title: `GET /1k.bin, 50 connections, keep-alive${pipelined ? `, pipelined ×${pipelining}` : ''}`,
    tool: 'autocannon',
    ratioMetric: 'rps',
    ratioNote: 'porta req/s ÷ row req/s',
    servers: chosen(
      ctx,
      STATIC,
      pipelined
        ? { python: 'skipped: python http.server answers HTTP/1.0 and closes each connection, so it cannot pipeline' }
        : {},
    ),
    load: (port, durationS) => cannon(options(port, durationS)),
    notes: [
      'node peer: no file cache (stat, open, read, close per request); porta keeps files ≤ 64 KiB in memory',
      ...(pipelined
        ? []
        : [
            'python closes every connection (HTTP/1.0), and its listen backlog is 5 (socketserver): ' +
              'with 50 connections SYNs are dropped and retried after 1 s, 3 s…, hence its latency and timeouts',
          ]),
    ],
  });
}

/**
 * W1 and W2 again with wrk as the client: a C client that costs a few
 * microseconds a request, so the server's own cost sets the rate (autocannon
 * holds a core of the two by itself). The servers the issue's first table
 * compared: porta, nginx with one worker, lighttpd.
 */
function w1wrk(ctx: Context, docroot: Docroot, name: 'W1-wrk' | 'W2-wrk'): Promise<WorkloadResult> {
  const pipelining = name === 'W2-wrk' ? 10 : 1;
  const missing = wrkMissing();
  const servers = chosen(ctx, ['porta', 'nginx', 'lighttpd']).map((s) => ({ ...s, skip: missing ?? s.skip }));
  return serverWorkload(ctx, docroot, {
    name,
    title: `GET /1k.bin, 50 connections, keep-alive${pipelining > 1 ? `, pipelined ×${pipelining}` : ''}, wrk as the client`,
    tool: 'wrk (1 thread)',
    ratioMetric: 'rps',
    ratioNote: 'porta req/s ÷ row req/s',
    servers,
    load: (port, durationS) => wrk({ port, path: '/1k.bin', connections: 50, pipelining, durationS }),
    notes: [
      'wrk -t1 -c50 --latency' +
        (pipelining > 1 ? `, a Lua request() of ${pipelining} GETs in one string` : '') +
        ': the same load as W1/W2 from a client that leaves most of its core to the server',
    ],
  });
}

/**
 * W8 and W9, all cores: porta with a worker a core, both ways of handing
 * connections to workers (the shared socket, and the primary dealing them
 * round-robin), porta with one worker, nginx with 2 workers, lighttpd. W8 is
 * W1's keep-alive load; W9 opens a connection per request, where the primary
 * of round-robin accepts every one.
 */
function allCores(ctx: Context, docroot: Docroot, name: 'W8' | 'W9'): Promise<WorkloadResult> {
  const cores = availableParallelism();
  // porta-mc is the reference: always there; the others when --server asks for them (or no --server).
  const names: ServerName[] = ['porta-mc', 'porta-mc-rr', 'porta', 'nginx-2w', 'lighttpd'];
  const servers = names.filter((s) => s === 'porta-mc' || ctx.wants(s)).map((n) => ({ name: n, skip: undefined }));
  const keepAlive = name === 'W8';
  return serverWorkload(ctx, docroot, {
    name,
    title: keepAlive
      ? `GET /1k.bin, 50 connections, keep-alive: porta --workers auto (${cores} here) against nginx with 2 workers`
      : `GET /1k.bin, 32 loops of connect + one request (Connection: close): porta --workers auto (${cores} here)`,
    tool: keepAlive ? 'autocannon' : 'bench/closeload.ts',
    ratioMetric: 'rps',
    ratioNote: 'porta-mc req/s ÷ row req/s',
    reference: 'porta-mc',
    servers,
    load: keepAlive
      ? (port, durationS) => cannon({ port, path: '/1k.bin', connections: 50, durationS })
      : async (port, durationS) =>
          closeSample(await closeLoad({ port, path: '/1k.bin', expect: '', connections: 32, durationS })),
    notes: [
      'porta-mc: --workers auto --balance shared (every worker accepts from the one socket: SCHED_NONE)',
      'porta-mc-rr: --workers auto --balance round-robin (the primary accepts and hands each connection to a worker)',
      `the load generator runs in the bench's own process on the same ${cores} cores, competing with every server alike`,
    ],
  });
}

function w3(ctx: Context, docroot: Docroot): Promise<WorkloadResult> {
  return serverWorkload(ctx, docroot, {
    name: 'W3',
    title: 'GET /10m.bin, 8 connections, keep-alive',
    tool: 'keepload',
    ratioMetric: 'mibps',
    ratioNote: 'porta MiB/s ÷ row MiB/s',
    servers: chosen(ctx, ['porta', 'node', 'nginx', 'nginx-2w', 'lighttpd']),
    load: async (port, durationS) => closeSample(await keepLoad({ port, path: '/10m.bin', connections: 8, durationS })),
    notes: [
      'keepload (bench/keepload.ts) for every server: autocannon keeps each body as a JS string and capped all of them near 50 MiB/s',
    ],
  });
}

function cgiWorkload(ctx: Context, docroot: Docroot, name: 'W4' | 'W5'): Promise<WorkloadResult> {
  const sh = name === 'W4';
  const path = sh ? '/cgi-bin/hello.sh' : '/cgi-bin/hello.py';
  const expect = sh ? HELLO_SH_TEXT : HELLO_PY_TEXT;
  // The start-up floor, alternating with the servers: no HTTP, 16 loops starting the program.
  const floorLabel = sh ? 'floor: sh hello.sh ×16' : 'floor: python3 -c pass ×16';
  const floorRun = (seconds: number) =>
    sh
      ? startupFloor('/bin/sh', [`${docroot.root}/cgi-bin/hello.sh`], 16, seconds)
      : startupFloor('/usr/bin/python3', ['-c', 'pass'], 16, seconds);
  return serverWorkload(ctx, docroot, {
    name,
    title: `CGI GET ${path}, 16 concurrent connections, one request each`,
    tool: 'closeload',
    ratioMetric: 'rps',
    ratioNote: 'porta req/s ÷ row req/s (on the floor row: the share of the process start-up ceiling porta reaches)',
    servers: chosen(ctx, CGI),
    load: async (port, durationS) => closeSample(await closeLoad({ port, path, expect, connections: 16, durationS })),
    extraSteps: [{ labels: [floorLabel], measure: async () => ({ [floorLabel]: await floorRun(ctx.durationS) }) }],
    notes: [
      'closeload (bench/closeload.ts) for every server: autocannon cannot count close-delimited responses',
      'porta = CGI stdout socket mode (default), porta-pipe = --cgi-stdout pipe',
      'nginx: FastCGI to fcgiwrap -c 4; lighttpd: mod_cgi in its one process (fork+exec per request)',
      'python: listen backlog 5 (socketserver), so with 16 clients some SYNs wait for the 1 s retry: its p99',
      `${floorLabel}: processes/s from 16 /bin/sh loops, one fork+exec per iteration, no HTTP (bench/floor.ts)`,
    ],
  });
}

function parserWorkload(ctx: Context): Promise<WorkloadResult> {
  const count = 1000;
  const input = pipelinedRequests(count);
  const seconds = Math.min(2, ctx.durationS);
  const steps: Step[] = [true, false].flatMap((pause) =>
    PARSER_KINDS.map((kind) => {
      const skip = parserSkip(kind);
      const label = pause ? kind : `${kind} (no pause)`;
      const step: Step = {
        labels: [label],
        warmup: async () => void parserRate(kind, input, count, 0.5, pause),
        measure: async () => ({ [label]: parserRate(kind, input, count, seconds, pause) }),
      };
      if (skip !== null) step.skipped = skip;
      return step;
    }),
  );
  return runAlternating(ctx, {
    name: 'parser',
    title: `llhttp builds through porta's parser interface: ${count} pipelined GETs (${input.length} bytes), ~${seconds} s a run`,
    tool: 'bench/parser.ts',
    ratioMetric: 'rps',
    reference: 'wasm',
    ratioNote: 'wasm requests/s ÷ row requests/s',
    steps,
    notes: [
      'wasm, native: pausing at every message end and resuming at parser.offset, as the connection does',
      "(no pause): the sink never asks to pause, so one execute() per pass: the adapters' pause cost is the difference",
    ],
  });
}

export function runWorkload(name: WorkloadName, ctx: Context, docroot: Docroot): Promise<WorkloadResult> {
  switch (name) {
    case 'W1':
      return w1(ctx, docroot);
    case 'W2':
      return w1(ctx, docroot, 'W2', 10);
    case 'W1-wrk':
    case 'W2-wrk':
      return w1wrk(ctx, docroot, name);
    case 'W3':
      return w3(ctx, docroot);
    case 'W4':
      return cgiWorkload(ctx, docroot, 'W4');
    case 'W5':
      return cgiWorkload(ctx, docroot, 'W5');
    case 'W6':
      return w6(ctx, docroot);
    case 'W7':
      return w7(ctx, docroot);
    case 'W8':
    case 'W9':
      return allCores(ctx, docroot, name);
    case 'parser':
      return parserWorkload(ctx);
  }
}
