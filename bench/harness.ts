// The shape of results, and the one loop every workload runs: for each round,
// each step (usually one server) in turn, A B A B …, then medians per row and
// the reference row's ratio to every other row, round by round.

import type { ServerName } from './servers';
import { median, type LoadFigures, type LoadResult } from './util';

/** One measurement of one row in one round. NaN where a figure does not apply. */
export interface Sample extends LoadFigures {
  /** Resident memory in MiB (W7). */
  rss: number;
  /** Workload-specific figures (connections held open, …). */
  extra: Record<string, number>;
}

export function sample(fields: Partial<Sample>): Sample {
  return { rps: NaN, mibps: NaN, p50: NaN, p99: NaN, errors: 0, non2xx: 0, rss: NaN, extra: {}, ...fields };
}

export type Metric = 'rps' | 'mibps' | 'p99' | 'rss';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface RowResult {
  label: string;
  /** Why the row was not measured ("skipped: …"). */
  skipped?: string;
  rounds: Sample[];
  median?: Sample;
  /** reference ÷ this row, on the workload's ratio metric: median and range of the per-round ratios. */
  ratio?: Spread;
}

/** What a workload is and how its rows are compared: given by the workload, kept in its result. */
export interface WorkloadHead {
  name: string;
  title: string;
  /** The load generator ("autocannon", "closeload", …). */
  tool: string;
  ratioMetric: Metric;
  /** The row every other row is compared with. */
  reference: string;
  /** What the ratio column means, in words. */
  ratioNote: string;
}

export interface WorkloadResult extends WorkloadHead {
  rows: RowResult[];
  notes: string[];
}

/** One thing measured in turn each round: usually one server, sometimes two rows at once. */
export interface Step {
  labels: string[];
  skipped?: string;
  /** Before round 1, unrecorded (JIT, page cache, CGI first runs). */
  warmup?(): Promise<void>;
  measure(round: number): Promise<Record<string, Sample>>;
}

export interface Context {
  durationS: number;
  rounds: number;
  quick: boolean;
  /** Server names asked for with --server (porta is always run). */
  wants(server: string): boolean;
  progress(line: string): void;
}

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function describeSample(s: Sample): string {
  const parts: string[] = [];
  if (Number.isFinite(s.rps)) parts.push(`${fmt(s.rps)} req/s`);
  if (Number.isFinite(s.mibps)) parts.push(`${fmt(s.mibps, 1)} MiB/s`);
  if (Number.isFinite(s.p50)) parts.push(`p50 ${fmt(s.p50, 2)} ms`);
  if (Number.isFinite(s.p99)) parts.push(`p99 ${fmt(s.p99, 2)} ms`);
  if (Number.isFinite(s.rss)) parts.push(`RSS ${fmt(s.rss, 1)} MiB`);
  for (const [k, v] of Object.entries(s.extra)) parts.push(`${k} ${fmt(v, Number.isInteger(v) ? 0 : 2)}`);
  parts.push(`errors ${s.errors}`, `non-2xx ${s.non2xx}`);
  return parts.join(', ');
}

function medianSample(rounds: Sample[]): Sample {
  const pick = (f: (s: Sample) => number) => median(rounds.map(f));
  const extra: Record<string, number> = {};
  for (const key of Object.keys(rounds[0]?.extra ?? {})) extra[key] = pick((s) => s.extra[key] ?? NaN);
  return sample({
    rps: pick((s) => s.rps),
    mibps: pick((s) => s.mibps),
    p50: pick((s) => s.p50),
    p99: pick((s) => s.p99),
    errors: pick((s) => s.errors),
    non2xx: pick((s) => s.non2xx),
    rss: pick((s) => s.rss),
    extra,
  });
}

export interface RunSpec extends WorkloadHead {
  steps: Step[];
  /** Rows that get a ratio (default: every row but the reference). */
  compare?: string[];
  notes?: string[];
}

/** Run every step once per round, in turn, and summarise. */
export async function runAlternating(ctx: Context, spec: RunSpec): Promise<WorkloadResult> {
  const rows = new Map<string, RowResult>();
  for (const step of spec.steps) {
    for (const label of step.labels) {
      rows.set(
        label,
        step.skipped === undefined ? { label, rounds: [] } : { label, skipped: step.skipped, rounds: [] },
      );
    }
  }
  const live = spec.steps.filter((s) => s.skipped === undefined);
  for (const step of live) {
    if (step.warmup !== undefined) {
      ctx.progress(`[${spec.name} warm-up] ${step.labels.join(' + ')}`);
      await step.warmup();
    }
  }
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const step of live) {
      const got = await step.measure(round);
      for (const label of step.labels) {
        const s = got[label];
        if (s === undefined) throw new Error(`${spec.name}: step gave no sample for ${label}`);
        (rows.get(label) as RowResult).rounds.push(s);
        ctx.progress(`[${spec.name} round ${round}/${ctx.rounds}] ${label}: ${describeSample(s)}`);
      }
    }
  }
  const reference = rows.get(spec.reference);
  for (const row of rows.values()) {
    if (row.rounds.length === 0) continue;
    row.median = medianSample(row.rounds);
    if (reference === undefined || row === reference || reference.rounds.length !== row.rounds.length) continue;
    if (spec.compare !== undefined && !spec.compare.includes(row.label)) continue;
    const ratios = row.rounds
      .map((s, i) => (reference.rounds[i] as Sample)[spec.ratioMetric] / s[spec.ratioMetric])
      .filter((r) => Number.isFinite(r));
    if (ratios.length > 0) row.ratio = { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
  }
  return {
    name: spec.name,
    title: spec.title,
    tool: spec.tool,
    ratioMetric: spec.ratioMetric,
    reference: spec.reference,
    ratioNote: spec.ratioNote,
    rows: [...rows.values()],
    notes: spec.notes ?? [],
  };
}

// ---- shared by the workloads (workloads.ts, resources.ts) -------------------

export const WARMUP_S = 1;

export function closeSample(r: LoadResult): Sample {
  return sample({ rps: r.rps, mibps: r.mibps, p50: r.p50, p99: r.p99, errors: r.errors, non2xx: r.non2xx });
}

/** Servers of a workload that --server asked for (porta always), each with its skip reason. */
export function chosen(ctx: Context, servers: ServerName[], skips: Partial<Record<ServerName, string>> = {}) {
  // porta-base (an A/B build) only runs when PORTA_BASE names one.
  const base: ServerName[] = process.env['PORTA_BASE'] === undefined ? [] : ['porta-base'];
  return [...servers.slice(0, 1), ...base, ...servers.slice(1)]
    .filter((s) => s === 'porta' || ctx.wants(s))
    .map((s) => ({ name: s, skip: skips[s] }));
}
