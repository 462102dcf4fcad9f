// The two kinds of chaos client. Victims loop over correct sessions (keep-alive
// sequences, pipelined batches, 100-continue, CGI last when its answer is framed
// by the close) and check every byte they get. Aborters send the same requests
// and bad input and walk away at a random point: after k bytes sent, after k
// bytes received or after 0-10 ms, by RST or by FIN; or they half-close after
// complete requests, and then they are victims: the full answers must arrive.

import { connect, type Socket } from 'node:net';
import { deriveSeed, Rng } from './rng';
import { BAD_KINDS, type Ctx, isCloseFramed, makeBad, randomReq, type Req, WEIGHTS } from './requests';
import type { PortaProcess } from './server';
import { type Check, Inbox, receive, receiveContinue, type Ref } from './wire';

/** A session that has not finished in this long has stalled. */
const SESSION_MS = 10_000;
const MAX_FAILURES = 12;

export interface Target {
  proc: PortaProcess;
  ctx: Ctx;
  refs: Map<string, Ref>;
}

export interface Stop {
  stopped: boolean;
}

export class Stats {
  victimRequests: Record<string, number> = {};
  aborterRequests: Record<string, number> = {};
  aborts: Record<string, number> = {};
  sessions = 0;
  /** Answers checked byte for byte, half-closed aborters' included. */
  responsesChecked = 0;
  halfCloseChecked = 0;
  bytesChecked = 0;
  wrongResponses = 0;
  wrongBytes = 0;
  /** Victim answers cut short because their server had exited (not counted as wrong). */
  cutByExit = 0;
  failures: string[] = [];
  /** Wrong answers by server, role, request kind and what went wrong. */
  failureClasses: Record<string, number> = {};
  warnings: Record<string, number> = {};
  aborterConnectErrors = 0;
  openSockets = 0;
  maxOpenSockets = 0;

  static add(record: Record<string, number>, key: string, n = 1): void {
    record[key] = (record[key] ?? 0) + n;
  }

  fail(text: string, wrongBytes: number, cls: string): void {
    this.wrongResponses++;
    Stats.add(this.failureClasses, cls);
    this.wrongBytes += wrongBytes;
    if (this.failures.length < MAX_FAILURES) this.failures.push(text);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Opened {
  socket: Socket;
  error: string | null;
  /** Resolves on 'close': a loop waits for it, so it never holds two sockets. */
  closed: Promise<void>;
}

/** A connection to 127.0.0.1:`port`, counted in `stats`; `error` says why it failed. */
export function open(port: number, stats: Stats | null): Promise<Opened> {
  const socket = connect(port, '127.0.0.1');
  if (stats !== null) {
    stats.openSockets++;
    stats.maxOpenSockets = Math.max(stats.maxOpenSockets, stats.openSockets);
  }
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      if (stats !== null) stats.openSockets--;
      resolve();
    });
  });
  socket.on('error', () => undefined);
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.setNoDelay(true);
      resolve({ socket, error: null, closed });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ socket, error: err.code ?? err.message, closed }));
  });
}

function write(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) return resolve();
    socket.once('close', () => resolve());
    socket.write(data, () => resolve());
  });
}

/** `data` in one to four writes split at random offsets. */
async function writePieces(rng: Rng, socket: Socket, data: Buffer): Promise<void> {
  const cuts = Array.from({ length: rng.int(0, 3) }, () => rng.int(0, data.length)).sort((a, b) => a - b);
  let pos = 0;
  for (const cut of [...cuts, data.length]) {
    if (cut > pos) await write(socket, data.subarray(pos, cut));
    pos = Math.max(pos, cut);
  }
}

/**
 * A session's requests: up to eight, drawn by weight; an answer framed by the
 * close (CGI in socket mode, nph-) ends the session, since nothing behind it is answered.
 */
function plan(rng: Rng, ctx: Ctx, allowExpect: boolean, max = 8): Req[] {
  const weights = WEIGHTS.filter(([kind]) => !ctx.skipped.has(kind) && (allowExpect || kind !== 'expect-100'));
  const out: Req[] = [];
  const n = rng.int(1, max);
  for (let tries = 0; out.length < n && tries < 2 * n; tries++) {
    const req = randomReq(rng, ctx, rng.weighted(weights));
    if (req === null) continue;
    out.push(req);
    if (isCloseFramed(req.kind, ctx.mode)) break;
  }
  return out;
}

/** Count a checked answer; false when it was wrong (the session then stops). */
async function record(stats: Stats, target: Target, check: Check, where: string, cls: string): Promise<boolean> {
  if (check.ok) {
    stats.responsesChecked++;
    stats.bytesChecked += check.bytes;
    return true;
  }
  if (check.cut) {
    // Cut short: was it the server dying? Give the exit event a moment to arrive.
    await Promise.race([target.proc.exited, sleep(500)]);
    if (target.proc.exit !== null) {
      stats.cutByExit++;
      return false;
    }
  }
  const what = check.problem.replace(/ at byte .*$| [-"…(].*$|: .*$|;.*$/, '').replace(/\d+/g, 'N');
  stats.fail(`${where}: ${check.problem}`, check.wrongBytes, `${cls}: ${what}`);
  return false;
}

async function checkedSession(rng: Rng, target: Target, stats: Stats, role: 'victim' | 'half-close'): Promise<void> {
  const { ctx, proc } = target;
  const pipelined = role === 'half-close' || rng.chance(0.4);
  const reqs = plan(rng, ctx, !pipelined, role === 'half-close' ? 3 : 8);
  if (reqs.length === 0) return;
  stats.sessions++;
  const deadline = Date.now() + SESSION_MS;
  const style = role === 'half-close' ? 'half-closed pipelined' : pipelined ? 'pipelined' : 'keep-alive';
  const kinds = reqs.map((r) => r.kind).join(', ');
  const { socket, error, closed } = await open(proc.port, stats);
  // The client's port names the connection in the server's log (--trace says "accepted from … port N").
  const clientPort = socket.localPort ?? '?';
  const where = (i: number, req: Req) =>
    `[${proc.mode} server] ${role} ${style} request ${i + 1}/${reqs.length} (${kinds}) from port ${clientPort}: ${req.line}`;
  try {
    const first = reqs[0];
    if (error !== null && first !== undefined) {
      const cut: Check = { ok: false, bytes: 0, wrongBytes: 1, cut: true, problem: `connect: ${error}`, learned: null };
      await record(stats, target, cut, where(0, first), `${proc.mode} ${role} connect`);
      return;
    }
    const inbox = new Inbox(socket);
    for (const req of reqs) Stats.add(stats.victimRequests, req.kind);
    if (pipelined) {
      await writePieces(rng, socket, Buffer.concat(reqs.flatMap((r) => [r.head, r.body])));
      if (role === 'half-close') socket.end();
    }
    for (const [i, req] of reqs.entries()) {
      const cls = `${proc.mode} ${role} ${req.kind}`;
      const ref = target.refs.get(req.key);
      if (ref === undefined) throw new Error(`no reference for ${req.key}`);
      if (!pipelined) {
        if (req.expect100) {
          socket.write(req.head);
          const interim = await receiveContinue(inbox, deadline);
          if (!(await record(stats, target, interim, `${where(i, req)}, waiting for 100 Continue`, cls))) return;
          stats.responsesChecked--; // the interim answer is not a response of its own
          socket.write(req.body);
        } else socket.write(Buffer.concat([req.head, req.body]));
      }
      const check = await receive(inbox, req, ref, deadline);
      if (!(await record(stats, target, check, where(i, req), cls))) return;
      if (role === 'half-close') stats.halfCloseChecked++;
    }
    const last = reqs[reqs.length - 1];
    if (last !== undefined && !last.closeFramed) {
      // Our FIN after the last answer: the server must close too, sending nothing more.
      if (role === 'victim') socket.end();
      await inbox.toEnd(Date.now() + 2000);
      if (inbox.available > 0) {
        const extra = inbox.take(inbox.available);
        const text = `${where(reqs.length - 1, last)}: ${extra.length} bytes after the last answer: ${JSON.stringify(extra.subarray(0, 60).toString('latin1'))}`;
        stats.fail(text, extra.length, `${proc.mode} ${role}: bytes after the last answer`);
      } else if (!inbox.done)
        Stats.add(stats.warnings, `${proc.mode} server kept a connection open 2 s after the client's FIN`);
    }
  } finally {
    socket.destroy();
    await closed;
  }
}

async function abort(rng: Rng, socket: Socket, how: 'rst' | 'fin'): Promise<void> {
  if (socket.destroyed) return;
  if (how === 'rst') socket.resetAndDestroy();
  else {
    socket.end();
    await sleep(rng.int(0, 50));
    socket.destroy();
  }
}

async function aborterSession(rng: Rng, target: Target, stats: Stats): Promise<void> {
  const { ctx, proc } = target;
  const mode = rng.weighted([
    ['send-k', 3],
    ['recv-k', 3],
    ['delay', 2],
    ['half-close', 1.5],
  ] as const);
  if (mode === 'half-close') {
    Stats.add(stats.aborts, 'half-close');
    return checkedSession(rng, target, stats, 'half-close');
  }
  let bytes: Buffer;
  let size = 0;
  const badKinds = BAD_KINDS.filter((k) => !ctx.skipped.has(k));
  if (rng.chance(0.3) && badKinds.length > 0) {
    const b = makeBad(rng, ctx, rng.pick(badKinds));
    Stats.add(stats.aborterRequests, b.kind);
    bytes = b.bytes;
    size = 600;
  } else {
    const reqs = plan(rng, ctx, true, 3);
    for (const r of reqs) Stats.add(stats.aborterRequests, r.kind);
    bytes = Buffer.concat(reqs.flatMap((r) => [r.head, r.body]));
    for (const r of reqs) size += 400 + (r.truth === 'learn' ? 600 : r.truth.length);
  }
  const how = rng.chance(0.5) ? 'rst' : 'fin';
  const { socket, error, closed } = await open(proc.port, stats);
  if (error !== null) {
    socket.destroy();
    await closed;
    if (proc.exit === null) stats.aborterConnectErrors++;
    return;
  }
  let received = 0;
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    received += d.length;
    wake?.();
  });
  socket.on('close', () => wake?.());
  switch (mode) {
    case 'send-k':
      await writePieces(rng, socket, bytes.subarray(0, rng.int(0, Math.max(0, bytes.length - 1))));
      await sleep(rng.int(0, 3));
      break;
    case 'recv-k': {
      void writePieces(rng, socket, bytes);
      // Until k bytes came, the server closed, 3 s passed, or nothing came for 300 ms
      // (k is drawn against an estimate of the answer's size and may be past its end).
      const k = rng.int(0, size);
      const until = Date.now() + 3000;
      let got = -1;
      while (received < k && received > got && !socket.destroyed && Date.now() < until) {
        got = received;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(300, until - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
      break;
    }
    case 'delay':
      void writePieces(rng, socket, bytes);
      await sleep(rng.int(0, 10));
      break;
  }
  await abort(rng, socket, how);
  await closed;
  Stats.add(stats.aborts, `${mode} ${how}`);
}

function alive(targets: Target[]): Target[] {
  return targets.filter((t) => t.proc.exit === null);
}

export async function victimLoop(id: number, seed: number, targets: Target[], stats: Stats, stop: Stop): Promise<void> {
  const rng = new Rng(deriveSeed(seed, 100 + id));
  while (!stop.stopped) {
    const live = alive(targets);
    if (live.length === 0) return;
    await checkedSession(rng, rng.pick(live), stats, 'victim');
  }
}

export async function aborterLoop(
  id: number,
  seed: number,
  targets: Target[],
  stats: Stats,
  stop: Stop,
): Promise<void> {
  const rng = new Rng(deriveSeed(seed, 200 + id));
  while (!stop.stopped) {
    const live = alive(targets);
    if (live.length === 0) return;
    await aborterSession(rng, rng.pick(live), stats);
  }
}
