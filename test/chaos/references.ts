// The reference answers: every request key fetched once on a fresh connection
// before any chaos, its head kept (Date normalised) and its body checked against
// what the site says it must be. A key whose reference is wrong is a server bug
// seen without any chaos: it is reported and never sent again.

import { open } from './clients';
import { type Ctx, KINDS, type Kind, makeReq, type Req, targetCount } from './requests';
import type { PortaProcess } from './server';
import { type Check, Inbox, receive, receiveContinue, type Ref } from './wire';

/** One request on a fresh connection, with no reference: the answer becomes the reference. */
async function fetchRef(port: number, req: Req): Promise<Check> {
  const deadline = Date.now() + 10_000;
  const { socket, error } = await open(port, null);
  try {
    if (error !== null)
      return { ok: false, bytes: 0, wrongBytes: 1, cut: true, problem: `connect: ${error}`, learned: null };
    const inbox = new Inbox(socket);
    if (req.expect100) {
      socket.write(req.head);
      const interim = await receiveContinue(inbox, deadline);
      if (!interim.ok) return interim;
      socket.write(req.body);
    } else socket.write(Buffer.concat([req.head, req.body]));
    return await receive(inbox, req, null, deadline);
  } finally {
    socket.destroy();
  }
}

function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The reference answer to every key, GETs first (their ETags make the 304 requests). */
export async function fetchRefs(proc: PortaProcess, ctx: Ctx, errors: string[]): Promise<Map<string, Ref>> {
  const refs = new Map<string, Ref>();
  const phases: Kind[][] = [['small', 'large'], KINDS.filter((k) => k !== 'small' && k !== 'large')];
  for (const kinds of phases) {
    for (const kind of kinds) {
      for (let n = 0; n < targetCount(ctx, kind); n++) {
        const key = `${kind}|${n}`;
        let req: Req;
        try {
          req = makeReq(ctx, kind, n, Buffer.from('chaos reference body\n'), null);
        } catch (err) {
          ctx.excluded.add(key);
          errors.push(`[${proc.mode} server] ${key}: ${(err as Error).message}`);
          continue;
        }
        const check = await fetchRef(proc.port, req);
        const ref = check.learned;
        if (!check.ok || ref === null) {
          ctx.excluded.add(key);
          errors.push(`[${proc.mode} server] reference ${req.line} (${kind}): ${check.problem}`);
          continue;
        }
        if (kind === 'listing') {
          const html = ref.body.toString('utf8');
          const missing = ctx.site.listedNames.filter((name) => !html.includes(escapeHtml(name)));
          if (missing.length > 0) errors.push(`[${proc.mode} server] listing lacks ${missing.join(', ')}`);
        }
        if (kind === 'small' || kind === 'large') {
          const etag = /\r\nETag: ([^\r\n]+)/i.exec(ref.head.toString('latin1'))?.[1];
          const url = req.head.toString('latin1').split(' ')[1];
          if (etag !== undefined && url !== undefined) ctx.etags.set(url, etag);
        }
        refs.set(key, ref);
      }
    }
  }
  return refs;
}
