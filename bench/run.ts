// porta's benchmark harness (issue 4).
//
//   node build/bench/run.js [workload…] [--server porta,node,python,nginx,lighttpd]
//                           [--duration S] [--rounds N] [--quick]
//
// For each workload, each server in turn, round after round (A B A B …), then
// the median per server and porta's ratio to each peer (median of per-round
// ratios, with their min–max). Progress on stderr, the table on stdout, files
// in bench/results/. See bench/README.md.

import { parseArgs } from 'node:util';
import { makeDocroot } from './docroot';
import type { Context, WorkloadResult } from './harness';
import { machineInfo, renderTable, writeResults, type RunReport } from './report';
import { isServerName, SERVER_NAMES, unavailable } from './servers';
import { cpuBusy, killAllSync } from './util';
import { isWorkloadName, runWorkload, WORKLOAD_NAMES, type WorkloadName } from './workloads';

const HELP = `Usage: node build/bench/run.js [workload…] [options]

Workloads (default: all):
  W1  GET /1k.bin, 50 connections, keep-alive          porta node nginx nginx-2w lighttpd python
  W2  W1 pipelined ×10                                 porta node nginx nginx-2w lighttpd
  W1-wrk, W2-wrk  W1 and W2 with wrk as the client      porta nginx lighttpd
  W3  GET /10m.bin, 8 connections (MiB/s)              porta node nginx nginx-2w lighttpd
  W4  CGI hello.sh, 16 connections (+ start-up floor)  porta porta-pipe nginx lighttpd python
  W5  CGI hello.py, 16 connections (+ start-up floor)  porta porta-pipe nginx lighttpd python
  W6  GET /1k.bin on porta alone, then beside W4: static p99 ratio
  W7  10,000 idle keep-alive connections: RSS and PSS (all of a server's processes)  porta porta-1p node lighttpd
  W8  W1 on all cores: porta --workers auto, shared socket and round-robin; porta-mc porta-mc-rr porta nginx-2w lighttpd
  W9  W8 with a new connection per request (the primary accepts them all in round-robin)
  parser  requests/s of each llhttp build through porta's parser interface

Options:
  --server LIST   peers to run, comma-separated (${SERVER_NAMES.join(', ')});
                  "nginx" includes nginx-2w, "porta" porta-pipe; porta always runs
  --duration S    seconds per measured run (default 10; --quick 3)
  --rounds N      rounds, servers alternating within each (default 3; --quick 1)
  --quick         1 round of 3 s: a smoke check
  --no-save       print the table only; leave bench/results/ alone
  --help          this text

nginx, fcgiwrap and lighttpd come from 'make bench-peers'; without them nginx or lighttpd is reported
as skipped.
`;

interface Args {
  workloads: WorkloadName[];
  servers: string[] | null;
  durationS: number;
  rounds: number;
  quick: boolean;
  save: boolean;
}

function parse(argv: string[]): Args | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string', multiple: true },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      quick: { type: 'boolean' },
      'no-save': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) return 'help';
  const workloads: WorkloadName[] = [];
  for (const p of positionals) {
    const name = WORKLOAD_NAMES.find((n) => n.toLowerCase() === p.toLowerCase()) ?? p;
    if (!isWorkloadName(name)) throw new Error(`unknown workload "${p}" (one of ${WORKLOAD_NAMES.join(', ')})`);
    if (!workloads.includes(name)) workloads.push(name);
  }
  let servers: string[] | null = null;
  if (values.server !== undefined) {
    servers = values.server
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const s of servers)
      if (!isServerName(s)) throw new Error(`unknown server "${s}" (one of ${SERVER_NAMES.join(', ')})`);
  }
  const quick = values.quick === true;
  const durationS = Number(values.duration ?? (quick ? '3' : '10'));
  const rounds = Number(values.rounds ?? (quick ? '1' : '3'));
  if (!Number.isFinite(durationS) || durationS <= 0 || durationS > 600) throw new Error('--duration is 0 < S ≤ 600');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds is a whole number 1…20');
  return {
    workloads: workloads.length > 0 ? workloads : [...WORKLOAD_NAMES],
    servers,
    durationS,
    rounds,
    quick,
    save: values['no-save'] !== true,
  };
}

function failed(name: string, err: Error): WorkloadResult {
  return {
    name,
    title: 'FAILED',
    tool: '-',
    ratioMetric: 'rps',
    reference: 'porta',
    ratioNote: '-',
    rows: [],
    notes: [`error: ${err.message.split('\n')[0] ?? ''}`],
  };
}

async function main(): Promise<void> {
  let args: Args | 'help';
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\nTry --help.\n`);
    process.exit(2);
  }
  if (args === 'help') return void process.stdout.write(HELP);
  const { servers } = args;
  const progress = (text: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
  const ctx: Context = {
    durationS: args.durationS,
    rounds: args.rounds,
    quick: args.quick,
    wants: (server) => servers === null || servers.some((s) => server === s || server.startsWith(`${s}-`)),
    progress,
  };
  for (const name of SERVER_NAMES) {
    const why = unavailable(name);
    if (why !== null && ctx.wants(name)) progress(`${name}: ${why}`);
  }
  const machine = machineInfo();
  machine.busyBefore = await cpuBusy(1000);
  if (machine.busyBefore > 0.1)
    progress(
      `WARNING: ${Math.round(machine.busyBefore * 100)}% of the CPUs busy before the run: other work skews the figures`,
    );
  const docroot = makeDocroot();
  const results: WorkloadResult[] = [];
  try {
    for (const name of args.workloads) {
      progress(`${name}: starting`);
      try {
        results.push(await runWorkload(name, ctx, docroot));
      } catch (err) {
        progress(`${name}: FAILED: ${(err as Error).stack ?? String(err)}`);
        results.push(failed(name, err as Error));
      }
    }
  } finally {
    killAllSync();
    docroot.remove();
  }
  machine.busyAfter = await cpuBusy(1000);
  const report: RunReport = {
    machine,
    options: {
      workloads: args.workloads,
      servers: servers?.join(',') ?? 'all',
      durationS: args.durationS,
      rounds: args.rounds,
      quick: args.quick,
    },
    workloads: results,
  };
  process.stdout.write('\n' + renderTable(report));
  if (!args.save) return;
  const files = writeResults(report);
  process.stdout.write(`\nwrote ${files.join(', ')} (and latest.json, latest.svg)\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    killAllSync();
    process.exit(1);
  },
);
