// The status page (--status-path, off by default), in the spirit of nginx's
// stub_status and Apache's mod_status: uptime, connections accepted and
// refused, connections by the state machine's own state names, answers and
// answers per second, CGI programs running and queued — per worker and in
// all. HTML for people, `?format=json` for machines. Loopback clients only,
// unless --status-allow names more. The client is the one porta believes:
// the socket's peer, or, from a --trust-proxy peer only, the address that
// proxy forwarded (so behind nginx on the same machine a remote client is not
// "loopback" just because nginx is; a client's own X-Forwarded-For never
// counts, since porta reads the chain from the right past trusted hops).

import escapeHtml from 'escape-html';
import type { Exchange } from '../http/exchange';
import { type AddressRanges, LOOPBACK_RANGES } from '../http/cidr';

/** One serving process, as the server counts it (src/server.ts ServerStats). */
export interface WorkerStatus {
  pid: number;
  startedAt: number;
  accepted: number;
  refused: number;
  requests: number;
  /** Answers per second over the last ten seconds. */
  rate: number;
  states: Record<string, number>;
  cgiRunning: number;
  cgiQueued: number;
}

export interface StatusSource {
  /** Every worker's numbers (this process's alone without a primary). */
  all(): Promise<WorkerStatus[]>;
}

export function serveStatus(exchange: Exchange, source: StatusSource, allow: AddressRanges): void {
  const client = exchange.request.client;
  if (!LOOPBACK_RANGES.has(client) && !allow.has(client))
    return exchange.sendError(403, 'the status page is not for you');
  const method = exchange.request.method;
  if (method !== 'GET' && method !== 'HEAD') {
    return exchange.sendError(405, `${method} is not allowed here`, [['Allow', 'GET, HEAD']]);
  }
  const json = /(?:^|&)format=json(?:&|$)/.test(exchange.request.query ?? '');
  source.all().then(
    exchange.contain((workers: WorkerStatus[]) => {
      const report = summarize(workers);
      const body = Buffer.from(json ? `${JSON.stringify(report, null, 2)}\n` : html(report), 'utf8');
      exchange.sendHead(
        200,
        [
          ['Content-Type', json ? 'application/json' : 'text/html; charset=utf-8'],
          ['Cache-Control', 'no-store'],
        ],
        { kind: 'length', length: body.length },
      );
      exchange.write(body);
      exchange.end();
    }),
    exchange.contain(() => exchange.sendError(500, 'the workers did not answer')),
  );
}

interface Report {
  uptimeSeconds: number;
  totals: Omit<WorkerStatus, 'pid' | 'startedAt'>;
  workers: Array<WorkerStatus & { uptimeSeconds: number }>;
}

function summarize(workers: WorkerStatus[]): Report {
  const now = Date.now();
  const totals = {
    accepted: 0,
    refused: 0,
    requests: 0,
    rate: 0,
    states: {} as Record<string, number>,
    cgiRunning: 0,
    cgiQueued: 0,
  };
  for (const w of workers) {
    totals.accepted += w.accepted;
    totals.refused += w.refused;
    totals.requests += w.requests;
    totals.rate += w.rate;
    totals.cgiRunning += w.cgiRunning;
    totals.cgiQueued += w.cgiQueued;
    for (const [state, n] of Object.entries(w.states)) totals.states[state] = (totals.states[state] ?? 0) + n;
  }
  const oldest = Math.min(now, ...workers.map((w) => w.startedAt));
  return {
    uptimeSeconds: Math.round((now - oldest) / 1000),
    totals,
    workers: workers.map((w) => ({ ...w, uptimeSeconds: Math.round((now - w.startedAt) / 1000) })),
  };
}

function states(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? 'none' : entries.map(([s, n]) => `${escapeHtml(s)} ${n}`).join(', ');
}

function html(report: Report): string {
  const rows = report.workers
    .map(
      (w) =>
        `<tr><td>${w.pid}</td><td>${w.uptimeSeconds} s</td><td>${w.accepted}</td><td>${w.refused}</td>` +
        `<td>${w.requests}</td><td>${w.rate.toFixed(1)}</td><td>${states(w.states)}</td>` +
        `<td>${w.cgiRunning}</td><td>${w.cgiQueued}</td></tr>`,
    )
    .join('\n');
  const t = report.totals;
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>porta status</title></head>\n<body>\n' +
    `<h1>porta status</h1>\n<p>up ${report.uptimeSeconds} s; ${t.requests} answers, ${t.rate.toFixed(1)} a second; ` +
    `connections: ${states(t.states)}; CGI programs running ${t.cgiRunning}, queued ${t.cgiQueued}</p>\n` +
    '<table border="1"><tr><th>pid</th><th>up</th><th>accepted</th><th>refused</th><th>answers</th>' +
    '<th>per second</th><th>connections by state</th><th>CGI running</th><th>CGI queued</th></tr>\n' +
    `${rows}\n</table>\n<p><a href="?format=json">JSON</a></p>\n</body></html>\n`
  );
}
