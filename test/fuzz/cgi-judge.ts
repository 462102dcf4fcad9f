// The CGI fuzzer's oracle: from what the fake program actually wrote and how
// it ended, what may the client have received? Read independently of porta's
// CGI parser: the header block ends at the first empty line (LF or CRLF),
// Content-Length and Status are read off its lines, and the body is what
// follows. The wire must agree: the body a prefix of the program's, its
// framing exact, its completeness justified by the exit.

import type { CgiInput } from './cgi-gen';
import type { FakeChild, FakeLauncher } from './cgi-program';
import type { Probe } from './harness';
import { HELLO } from './site';
import { readResponses, type WireResponse } from './wire';

interface ProgramHead {
  /** Offset of the body in the output, or null when no empty line ended the block. */
  bodyStart: number | null;
  fields: Array<[string, string]>;
}

function programHead(output: Buffer): ProgramHead {
  const lf2 = output.indexOf('\n\n');
  const lfcrlf = output.indexOf('\n\r\n');
  const candidates = [lf2 < 0 ? null : lf2 + 2, lfcrlf < 0 ? null : lfcrlf + 3].filter((n): n is number => n !== null);
  if (candidates.length === 0) return { bodyStart: null, fields: [] };
  const bodyStart = Math.min(...candidates);
  const head = output.subarray(0, bodyStart).toString('latin1');
  const fields: Array<[string, string]> = [];
  for (let line of head.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const colon = line.indexOf(':');
    if (colon > 0) fields.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { bodyStart, fields };
}

function values(head: ProgramHead, name: string): string[] {
  return head.fields.filter(([n]) => n === name).map(([, v]) => v);
}

/** Fields porta decides itself and drops from a program's block (framing, hop-by-hop). */
const PORTA_OWN = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'date',
  'server',
]);

/** RFC 3875 §6.2.2: a local redirect is a path in Location and no other field of substance. */
function isLocalRedirect(head: ProgramHead): boolean {
  const location = values(head, 'location')[0];
  if (location === undefined || !location.startsWith('/') || location.startsWith('//')) return false;
  // A Content-Length is a body promised to the client: a document answer, not a redirect.
  return head.fields.every(([name]) => name === 'location' || (name !== 'content-length' && PORTA_OWN.has(name)));
}

export interface CgiVerdict {
  problems: string[];
  firstStatus: number | null;
  framing: string;
}

export function judgeCgi(input: CgiInput, launcher: FakeLauncher, probe: Probe): CgiVerdict {
  const socket = probe.socket;
  const problems: string[] = [];
  const reading = readResponses(socket.received(), (i) => i === 0 && input.head, true);
  if (reading.error !== null) problems.push(`malformed response stream: ${reading.error}`);
  const finals = reading.responses.filter((r) => !r.interim);
  if (finals.length > input.requests) problems.push(`${finals.length} responses to ${input.requests} requests`);
  const r0 = finals[0];
  if (r0 === undefined) {
    if (!socket.reset) problems.push('no answer at all: the connection closed before one byte of a response');
    return { problems, firstStatus: null, framing: 'no answer' };
  }
  const framing = `${r0.framing}${r0.complete ? '' : ' cut'}`;
  const child = launcher.children[0];
  let overflowed = false;
  if (input.plan.launchFails) {
    if (r0.status !== 500) problems.push(`a program that could not start answered ${r0.status}`);
  } else if (child === undefined) {
    if (!socket.reset) problems.push(`answered ${r0.status} without starting the program`);
  } else {
    overflowed = judgeFirst(input, child, r0, finals.length === 1, probe, problems);
  }
  // The pipelined GET must be answered unless the connection had to close.
  const r1 = finals[1];
  // A program porta had to stop (timeout, client gone) ends the connection, whole answer or not.
  const stopped = launcher.children.some((c) => c.stoppedBySignal);
  const mustClose = r0.closes || overflowed || !r0.complete || socket.reset || stopped;
  if (input.requests === 2 && !mustClose && r1 === undefined) problems.push('the pipelined GET was not answered');
  if (r1 !== undefined && (r1.status !== 200 || !r1.body.equals(HELLO)))
    problems.push(`the pipelined GET got ${r1.status}`);
  return { problems, firstStatus: r0.status, framing };
}

/** The program's own answer. True when it wrote past its Content-Length (the connection must close). */
function judgeFirst(
  input: CgiInput,
  child: FakeChild,
  r: WireResponse,
  last: boolean,
  probe: Probe,
  problems: string[],
): boolean {
  const socket = probe.socket;
  const output = child.output;
  const head = programHead(output);
  // Signalled at all counts as stopped: porta's timer can fire after the
  // program ended but before its EOF and exit reached porta's loop (a race
  // any server has); the answer is then cut, and that is right.
  const stopped = child.stoppedBySignal || child.signals.length > 0 || socket.reset;
  // Exited by itself with status 0: only then is a body of no declared
  // length known to be whole (the fault-containment issue: a non-zero exit or
  // a signal mid-body leaves no terminating chunk). A declared length speaks
  // for itself, however the program ended.
  const exitOk =
    child.exitStatus !== null &&
    child.exitStatus !== undefined &&
    child.exitStatus.signal === null &&
    child.exitStatus.code === 0 &&
    !child.stoppedBySignal;
  if (r.status === 502 || r.status === 504) {
    if (r.status === 504 && child.signals.length === 0) problems.push('504 for a program porta never stopped');
    return false;
  }
  const locations = values(head, 'location');
  if (values(head, 'x-sendfile').length > 0 || isLocalRedirect(head)) {
    return false; // answered by static files or another run: their own framing was checked on the wire
  }
  if (head.bodyStart === null) {
    problems.push(`answered ${r.status} to output with no empty line after its header block`);
    return false;
  }
  const statusField = values(head, 'status')[0];
  const expectedStatus = statusField !== undefined ? Number(statusField.slice(0, 3)) : locations.length > 0 ? 302 : 200;
  if (r.status !== expectedStatus) problems.push(`status ${r.status}, the program said ${expectedStatus}`);
  const body = output.subarray(head.bodyStart);
  if (!body.subarray(0, r.body.length).equals(r.body))
    problems.push(`the body on the wire is not the program's (${r.body.length} bytes)`);
  const declared = values(head, 'content-length');
  // A cut answer: nothing may follow it, and the connection must end. A FIN
  // after the bytes written is truncation the client can see (a length not
  // reached, no last chunk); only a close-delimited body needs the reset.
  const cutOk = (why: string): void => {
    if (!last) problems.push(`${why}, yet a response followed`);
    if (!socket.finSent && !socket.destroyed) problems.push(`${why}, yet the connection stayed open`);
  };
  switch (r.framing) {
    case 'none':
      if (!input.head && r.status !== 204 && r.status !== 304) problems.push(`a ${r.status} without a body`);
      return false;
    case 'length': {
      const n = r.length as number;
      if (declared.length === 0 || Number(declared[0]) !== n) {
        problems.push(`Content-Length ${n} on the wire, the program declared ${JSON.stringify(declared)}`);
      }
      if (!r.complete) {
        cutOk(`cut at ${r.body.length} of ${n} bytes`);
        if (body.length >= n && !stopped)
          problems.push(`cut short though the program wrote ${body.length} of ${n} and was not stopped`);
        return false;
      }
      // Past its declared length (0 included) the program's output is dropped
      // and the connection must close after the answer.
      if (body.length > n) {
        if (!last) problems.push(`the program wrote ${body.length} past its ${n}, yet the connection went on`);
        if (!socket.serverClosed)
          problems.push(`the program wrote ${body.length} past its ${n}, yet the connection was not closed`);
        return true;
      }
      return false;
    }
    case 'chunked':
      if (declared.length > 0) problems.push(`chunked, though the program declared ${JSON.stringify(declared)}`);
      if (r.complete) {
        if (!exitOk)
          problems.push(
            `a last chunk for a program that ended ${JSON.stringify(child.exitStatus)} after ${child.signals.join('+') || 'no signal'}`,
          );
        else if (!r.body.equals(body))
          problems.push(`chunked body of ${r.body.length}, the program wrote ${body.length}`);
      } else {
        cutOk('no last chunk');
        if (exitOk && !stopped) problems.push(`no last chunk for a program that exited ${child.exitStatus?.code}`);
      }
      return false;
    case 'close':
      if (exitOk && !stopped && !r.body.equals(body))
        problems.push(`close-delimited body of ${r.body.length}, the program wrote ${body.length}`);
      return false;
  }
}
