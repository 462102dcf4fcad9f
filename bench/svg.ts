// A hand-written SVG bar chart of a run, no dependencies.
// Top panel: each workload's throughput relative to its reference (porta;
// wasm for `parser`) on a log scale, bars growing up (faster) or down (slower)
// from 1. Bottom panel: W6's p99 latencies and W7's memory, absolute.

import type { RowResult, WorkloadResult } from './harness';
import type { RunReport } from './report';

/** The chart's least width; it grows with the number of workload groups (~155 px each). */
const MIN_WIDTH = 1000;
const COLOURS: Record<string, string> = {
  porta: '#1f77b4',
  'porta-pipe': '#6baed6',
  'porta-base': '#aec7e8',
  node: '#2ca02c',
  nginx: '#d62728',
  'nginx-2w': '#ff9896',
  lighttpd: '#e6a700',
  python: '#9467bd',
  wasm: '#17becf',
  native: '#ff7f0e',
  'wasm (no pause)': '#9edae5',
  'native (no pause)': '#ffbb78',
  'static alone': '#393b79',
  'static beside CGI': '#9c9ede',
  'CGI beside static': '#637939',
};
const SPARE = ['#8c564b', '#e377c2', '#bcbd22', '#17becf', '#393b79'];

function colour(label: string, spare: Map<string, string>): string {
  if (label.startsWith('floor')) return '#7f7f7f';
  const known = COLOURS[label];
  if (known !== undefined) return known;
  let c = spare.get(label);
  if (c === undefined) {
    c = SPARE[spare.size % SPARE.length] as string;
    spare.set(label, c);
  }
  return c;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function short(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

interface Bar {
  label: string;
  value: number;
  caption: string;
  /** A second caption line (the absolute figure). */
  detail?: string;
}

/** Rows as bars relative to the reference: value = row ÷ reference (the table's ratio, inverted). */
function relativeBars(w: WorkloadResult): Bar[] {
  const bars: Bar[] = [];
  const metric = w.ratioMetric;
  for (const row of w.rows) {
    if (row.median === undefined) continue;
    const detail = short(row.median[metric]);
    if (row.label === w.reference) bars.push({ label: row.label, value: 1, caption: '1.00×', detail });
    else if (row.ratio !== undefined) {
      const value = 1 / row.ratio.median;
      bars.push({ label: row.label, value, caption: `${value.toFixed(2)}×`, detail });
    }
  }
  return bars;
}

function absoluteBars(w: WorkloadResult, pick: (r: RowResult) => number, unit: string): Bar[] {
  return w.rows
    .filter((r) => r.median !== undefined && Number.isFinite(pick(r)))
    .map((r) => ({ label: r.label, value: pick(r), caption: `${short(pick(r))} ${unit}` }));
}

interface Group {
  title: string;
  bars: Bar[];
}

export function renderSvg(report: RunReport): string {
  const spare = new Map<string, string>();
  const seen = new Map<string, string>();
  const parts: string[] = [];
  const use = (label: string) => {
    const c = colour(label, spare);
    seen.set(label, c);
    return c;
  };

  // Top panel: relative throughput, log scale.
  const relative: Group[] = report.workloads
    .filter((w) => w.ratioMetric === 'rps' || w.ratioMetric === 'mibps')
    .map((w) => ({
      title: `${w.name}${w.reference === 'porta' ? '' : ` (vs ${w.reference})`} ${w.ratioMetric === 'mibps' ? 'MiB/s' : 'req/s'}`,
      bars: relativeBars(w),
    }))
    .filter((g) => g.bars.length > 0);
  const values = relative.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.min(0.25, 2 ** Math.floor(Math.log2(Math.min(...values, 1))));
  // One doubling of headroom above the tallest bar for its caption.
  const hi = Math.max(4, 2 ** (Math.ceil(Math.log2(Math.max(...values, 1))) + 1));
  const top = 70;
  const plotH = 300;
  const left = 70;
  const width = Math.max(MIN_WIDTH, left + 30 + relative.length * 155);
  const plotW = width - left - 30;
  const y = (v: number) =>
    top + (plotH * (Math.log2(hi) - Math.log2(Math.max(v, lo)))) / (Math.log2(hi) - Math.log2(lo));
  parts.push(
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">porta benchmark ${esc(report.machine.date.slice(0, 10))}</text>`,
  );
  parts.push(
    `<text x="${width / 2}" y="44" text-anchor="middle" font-size="12">${esc(`${report.machine.cpuCount} × ${report.machine.cpuModel}, node ${report.machine.node}, kernel ${report.machine.kernel}; medians of ${report.options.rounds} round(s) × ${report.options.durationS} s${report.options.quick ? ' (--quick)' : ''}${Math.max(report.machine.busyBefore, report.machine.busyAfter) > 0.1 ? '; CPUs busy with other work: skewed' : ''}`)}</text>`,
  );
  parts.push(
    `<text x="${left}" y="${top - 8}" font-size="13">Throughput relative to porta (porta = 1×; above the 1× line: faster than porta), log scale; under each ratio: the absolute median</text>`,
  );
  for (let t = lo; t <= hi * 1.0001; t *= 2) {
    const ty = y(t).toFixed(1);
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${ty}" y2="${ty}" stroke="${t === 1 ? '#000' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`,
    );
    parts.push(
      `<text x="${left - 6}" y="${ty}" dy="4" text-anchor="end" font-size="11">${t >= 1 ? t : `1/${Math.round(1 / t)}`}×</text>`,
    );
  }
  const groupW = relative.length > 0 ? plotW / relative.length : plotW;
  relative.forEach((g, gi) => {
    const gx = left + gi * groupW;
    const barW = Math.min(48, (groupW * 0.85) / Math.max(1, g.bars.length));
    const start = gx + (groupW - barW * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const x = start + bi * barW;
      const ytop = y(b.value);
      const h = Math.max(1.5, top + plotH - ytop);
      parts.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${ytop.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${use(b.label)}"><title>${esc(`${g.title} ${b.label}: ${b.caption} ${b.detail ?? ''}`)}</title></rect>`,
      );
      const cx = (x + barW / 2).toFixed(1);
      parts.push(
        `<text x="${cx}" y="${(ytop - 15).toFixed(1)}" text-anchor="middle" font-size="9">${esc(b.caption)}</text>`,
      );
      if (b.detail !== undefined)
        parts.push(
          `<text x="${cx}" y="${(ytop - 4).toFixed(1)}" text-anchor="middle" font-size="8" fill="#555">${esc(b.detail)}</text>`,
        );
    });
    parts.push(
      `<text x="${(gx + groupW / 2).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle" font-size="13" font-weight="bold">${esc(g.title)}</text>`,
    );
  });

  // The 1× line again, over the bars.
  parts.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#000" stroke-width="1" stroke-dasharray="5 3"/>`,
  );

  // Bottom panel: W6 p99 (ms) and W7 RSS (MiB), each group on its own linear scale.
  const others: Group[] = [];
  for (const w of report.workloads) {
    if (w.name === 'W6')
      others.push({
        title: 'W6 static p99 (ms), alone vs beside CGI',
        bars: absoluteBars(w, (r) => (r.label.startsWith('static') ? (r.median?.p99 ?? NaN) : NaN), 'ms'),
      });
    if (w.name === 'W7')
      others.push({
        title: `W7 RSS (MiB) with idle connections, lower is better`,
        bars: absoluteBars(w, (r) => r.median?.rss ?? NaN, 'MiB'),
      });
  }
  let height = top + plotH + 40;
  const shown = others.filter((g) => g.bars.length > 0);
  if (shown.length > 0) {
    const top2 = height + 30;
    const h2 = 140;
    const w2 = plotW / shown.length;
    shown.forEach((g, gi) => {
      const gx = left + gi * w2;
      const max = Math.max(...g.bars.map((b) => b.value));
      const barW = Math.min(60, (w2 * 0.6) / g.bars.length);
      const start = gx + (w2 - barW * g.bars.length) / 2;
      parts.push(`<line x1="${gx + 10}" x2="${gx + w2 - 10}" y1="${top2 + h2}" y2="${top2 + h2}" stroke="#000"/>`);
      g.bars.forEach((b, bi) => {
        const bh = max > 0 ? (h2 * b.value) / max : 0;
        const x = start + bi * barW;
        parts.push(
          `<rect x="${(x + 2).toFixed(1)}" y="${(top2 + h2 - bh).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${bh.toFixed(1)}" fill="${use(b.label)}"><title>${esc(`${b.label}: ${b.caption}`)}</title></rect>`,
        );
        parts.push(
          `<text x="${(x + barW / 2).toFixed(1)}" y="${(top2 + h2 - bh - 4).toFixed(1)}" text-anchor="middle" font-size="10">${esc(b.caption)}</text>`,
        );
      });
      parts.push(
        `<text x="${(gx + w2 / 2).toFixed(1)}" y="${top2 + h2 + 18}" text-anchor="middle" font-size="12" font-weight="bold">${esc(g.title)}</text>`,
      );
    });
    height = top2 + h2 + 40;
  }

  // Legend: one swatch per row label drawn.
  let lx = left;
  let ly = height;
  for (const [label, c] of seen) {
    const w = 22 + label.length * 6.5;
    if (lx + w > width - 20) {
      lx = left;
      ly += 18;
    }
    parts.push(
      `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${c}"/><text x="${lx + 16}" y="${ly}" font-size="11">${esc(label)}</text>`,
    );
    lx += w + 10;
  }
  height = ly + 20;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}
