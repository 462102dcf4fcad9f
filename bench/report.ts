// The end-of-run table, and the results files: bench/results/<date>.json and
// .svg, copied to latest.json / latest.svg.

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { join, resolve } from 'node:path';
import type { RowResult, Sample, WorkloadResult } from './harness';
import { renderSvg } from './svg';

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  node: string;
  os: string;
  kernel: string;
  memoryGiB: number;
  date: string;
  /** Share of all CPUs busy (/proc/stat) in the second before the run, with nothing of ours running. */
  busyBefore: number;
  /** The same in the second after the run: other work on the machine skews every figure. */
  busyAfter: number;
}

export interface RunReport {
  machine: Machine;
  options: { workloads: string[]; servers: string; durationS: number; rounds: number; quick: boolean };
  workloads: WorkloadResult[];
}

export function machineInfo(): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpuCount: list.length,
    node: process.version,
    os: osType(),
    kernel: release(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    date: new Date().toISOString(),
    busyBefore: NaN,
    busyAfter: NaN,
  };
}

function num(n: number | undefined, digits: number): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const COLUMNS: [string, number][] = [
  ['', 30],
  ['req/s', 10],
  ['MiB/s', 9],
  ['p50 ms', 8],
  ['p99 ms', 8],
  ['errors', 7],
  ['non-2xx', 8],
  ['RSS MiB', 8],
  ['ratio', 7],
  ['(min–max)', 14],
];

function line(cells: string[]): string {
  return cells
    .map((cell, i) => {
      const width = COLUMNS[i]?.[1] ?? 10;
      return i === 0 ? cell.padEnd(width) : cell.padStart(width);
    })
    .join(' ')
    .trimEnd();
}

function rowLine(row: RowResult): string {
  const label = '  ' + row.label;
  if (row.skipped !== undefined || row.median === undefined) return `${label.padEnd(30)} ${row.skipped ?? 'no result'}`;
  const m: Sample = row.median;
  const ratio = row.ratio;
  const cells = [
    label,
    num(m.rps, 0),
    num(m.mibps, 1),
    num(m.p50, 2),
    num(m.p99, 2),
    num(m.errors, 0),
    num(m.non2xx, 0),
    num(m.rss, 1),
    ratio === undefined ? '' : num(ratio.median, 2),
    ratio === undefined ? '' : `(${num(ratio.min, 2)}–${num(ratio.max, 2)})`,
  ];
  let text = line(cells);
  const extra = Object.entries(m.extra).map(([k, v]) => `${k} ${num(v, Number.isInteger(v) ? 0 : 1)}`);
  if (extra.length > 0) text += `   [${extra.join(', ')}]`;
  return text;
}

export function renderTable(report: RunReport): string {
  const m = report.machine;
  const o = report.options;
  const out: string[] = [];
  out.push(
    `porta benchmark, ${m.date.slice(0, 19).replace('T', ' ')} UTC: ${m.cpuCount} × ${m.cpuModel}, ` +
      `${m.os} ${m.kernel}, node ${m.node}; ${o.rounds} round(s) of ${o.durationS} s, medians` +
      (o.quick ? ' (--quick: a smoke check, not a measurement)' : ''),
  );
  out.push(
    `CPU busy with other work: ${num(m.busyBefore * 100, 0)}% in the second before the run, ` +
      `${num(m.busyAfter * 100, 0)}% in the second after` +
      (Math.max(m.busyBefore, m.busyAfter) > 0.1 ? ' — WARNING: the machine was not idle, figures are skewed' : ''),
  );
  out.push(line(COLUMNS.map(([name]) => name)));
  for (const w of report.workloads) {
    out.push('');
    out.push(`${w.name}  ${w.title}`);
    out.push(`    load: ${w.tool}; ratio = ${w.ratioNote}`);
    for (const row of w.rows) out.push(rowLine(row));
    for (const note of w.notes) out.push(`    note: ${note}`);
  }
  return out.join('\n') + '\n';
}

/** Write <date>.json and <date>.svg under bench/results and copy them to latest.*. Returns the paths. */
export function writeResults(report: RunReport): string[] {
  // build/bench/report.js → <repo>/bench/results
  const dir = resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const day = report.machine.date.slice(0, 10);
  const json = join(dir, `${day}.json`);
  const svg = join(dir, `${day}.svg`);
  // NaN is not JSON: null says "does not apply".
  writeFileSync(
    json,
    JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n',
  );
  writeFileSync(svg, renderSvg(report));
  copyFileSync(json, join(dir, 'latest.json'));
  copyFileSync(svg, join(dir, 'latest.svg'));
  return [json, svg];
}
