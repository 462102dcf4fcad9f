// The chaos report as a short table, for the CLI and for tap comments.

import type { ChaosReport, ServerReport } from './chaos';

const MiB = 1024 * 1024;

function row(cells: Array<string | number>, widths: number[]): string {
  return cells
    .map((c, i) => String(c).padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd();
}

function serverLine(s: ServerReport, slack: number): string {
  const exit =
    s.exit === null
      ? 'ran to the end'
      : `EXITED at ${(s.exit.atMs / 1000).toFixed(1)} s (code ${s.exit.code}, signal ${s.exit.signal})`;
  const growth = s.fdGrowth === '' ? '' : ` [${s.fdGrowth}]`;
  const fds = `fd ${s.fdBaseline ?? '?'} → ${s.fdEnd ?? '?'}${growth} (≤ ${s.fdBaseline === null ? '?' : s.fdBaseline + slack})`;
  return `  ${s.mode.padEnd(6)} pid ${s.pid}  ${exit}  ${fds}  max RSS ${s.maxRssMiB.toFixed(1)} MiB  zombies ${s.zombies.length}  children left ${s.children.length}`;
}

export function formatReport(r: ChaosReport, slack = 4): string[] {
  const out: string[] = [];
  out.push(
    `porta chaos: seed ${r.seed}, ${r.seconds} s of load${r.aborts ? '' : ' (aborters off)'}, ${(r.durationMs / 1000).toFixed(1)} s in all`,
  );
  const kinds = [...new Set([...Object.keys(r.victimRequests), ...Object.keys(r.aborterRequests)])].sort();
  const widths = [16, 9, 9];
  out.push(row(['request kind', 'checked', 'aborter'], widths));
  for (const k of kinds) out.push(row([k, r.victimRequests[k] ?? 0, r.aborterRequests[k] ?? 0], widths));
  const aborts = Object.entries(r.abortCounts).sort(([a], [b]) => a.localeCompare(b));
  out.push(`aborts: ${aborts.length === 0 ? 'none' : aborts.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  out.push(
    `checked: ${r.responsesChecked} answers (${r.halfCloseChecked} to half-closed clients) in ${r.sessions} sessions, ` +
      `${(r.bytesChecked / MiB).toFixed(1)} MiB; wrong answers ${r.wrongResponses}, wrong bytes ${r.wrongBytes}; ` +
      `cut short by a server exit ${r.cutByExit}; most sockets open ${r.maxOpenSockets}`,
  );
  out.push('servers:');
  for (const s of r.servers) out.push(serverLine(s, slack));
  out.push(`processes left in the site: ${r.leftovers.length === 0 ? 'none' : r.leftovers.join(', ')}`);
  for (const [w, n] of Object.entries(r.warnings)) out.push(`warning: ${w} (${n}×)`);
  if (r.setupErrors.length > 0) {
    out.push(`setup errors (${r.setupErrors.length}):`);
    for (const e of r.setupErrors.slice(0, 8)) out.push(`  ${e}`);
  }
  const classes = Object.entries(r.failureClasses).sort(([, a], [, b]) => b - a);
  if (classes.length > 0) {
    out.push('wrong answers by server, client, request kind and fault:');
    for (const [c, n] of classes.slice(0, 20)) out.push(`  ${String(n).padStart(6)}  ${c}`);
    if (classes.length > 20) out.push(`  … and ${classes.length - 20} more classes`);
  }
  if (r.failures.length > 0) {
    out.push(`first wrong answers (of ${r.wrongResponses}):`);
    for (const f of r.failures) out.push(`  ${f}`);
  }
  if (r.ok) out.push(`PASS (seed ${r.seed})`);
  else {
    out.push(`FAIL (seed ${r.seed}):`);
    for (const p of r.problems) out.push(`  - ${p}`);
    for (const s of r.servers) {
      if (s.stderrTail.length === 0) continue;
      out.push(`porta (${s.mode}) stderr, last ${s.stderrTail.length} lines:`);
      for (const line of s.stderrTail) out.push(`  | ${line}`);
    }
    out.push(`replay: ${r.replay}`);
  }
  return out;
}
