// --trace's event log, pinned: bytes in, the sequence of events out (times,
// ports, pids, dates and fd numbers aside), for the requests issue 10 names.
// Like llhttp's own tests, but for the whole connection: the parser's
// callbacks with their offsets in the read, the state machine's transitions
// with their causes, the dispatch decision, the program's spawn and exit, the
// writes, the answer and the close.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import type { ParserKind } from '../../src/http/parser';
import type { TraceEvent } from '../../src/trace';
import { rawRequest, sleep, startPorta, tempDir } from '../helpers/porta';

const site = tempDir('porta-trace-');
t.teardown(site.remove);
writeFileSync(join(site.dir, 'hello.txt'), 'hello, world\n');
// Large enough that a reset lands while it is still being written.
writeFileSync(join(site.dir, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 0x61));
mkdirSync(join(site.dir, 'cgi-bin'));
const program = (name: string, text: string): void => {
  writeFileSync(join(site.dir, 'cgi-bin', name), text);
  chmodSync(join(site.dir, 'cgi-bin', name), 0o755);
};
program('echo.sh', "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat\n");
// A body that begins like a status line: still body, not a head.
program(
  'quote.sh',
  "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nsleep 0.05\nprintf 'HTTP/1.1 200 is what this text is about\\r\\n\\r\\n'\n",
);
program(
  'nph-hi.sh',
  "#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nConnection: close\\r\\n\\r\\nhi\\n'\n",
);

/** An event as pinned: its kind and text, with what changes from run to run replaced. */
function shown(e: TraceEvent): string {
  return (
    `${e.conn} ${e.kind}: ${e.text}`
      .replace(/\\"[0-9a-f]+-[0-9a-f]+\\"/g, 'E')
      .replace(/port \d+/g, 'port P')
      .replace(/\(fd \d+\)/g, '(fd N)')
      .replace(/fd \d+ in porta/g, 'fd N in porta')
      .replace(/pid \d+/g, 'pid N')
      .replace(/in [\d.]+ ms/g, 'in T ms')
      .replace(/after \d+ ms/g, 'after T ms')
      .replace(/Date: [^\\]+GMT/g, 'Date: D')
      .replace(/[\w/.-]*porta-trace-\w+/g, 'SITE')
      .replace(/ETag: \\"[^\\]+\\"/g, 'ETag: E')
      .replace(/Last-Modified: [^\\]+GMT/g, 'Last-Modified: L')
      .replace(/Last-Modified [^)]+GMT/g, 'Last-Modified L')
      .replace(/ETag "[0-9a-f]+-[0-9a-f]+"/g, 'ETag E')
      // Where a reset lands in a large answer is the kernel's business.
      .replace(/sendfile wrote \d+ body bytes/g, 'sendfile wrote N body bytes')
      .replace(/after \d+ of (\d+) bytes/g, 'after N of $1 bytes')
      .replace(
        /answered 200, \d+ body bytes; then close: cut short/g,
        'answered 200, N body bytes; then close: cut short',
      )
  );
}

async function traced(
  parser: ParserKind,
  settings: { cgiStdout?: 'socket' | 'pipe' },
  exchange: (port: number) => Promise<void>,
): Promise<string[]> {
  const events: TraceEvent[] = [];
  const server = await startPorta(
    t,
    { root: site.dir, parser, cgiStdout: settings.cgiStdout ?? 'socket', traceBytes: 400 },
    { traceListener: (e) => events.push(e) },
  );
  await exchange(server.port);
  // Until every connection's close is traced (the FIN exchange ends it).
  const count = (kind: string): number => events.filter((e) => e.kind === kind).length;
  for (let i = 0; i < 200 && count('close') < count('accept'); i++) await sleep(10);
  await server.close();
  return normalize(events);
}

/**
 * What does not depend on timing. Each connection's events in order, one
 * connection after the other (two connections interleave as the kernel
 * pleases). A program's exit races with its last output through the pipe, as
 * SIGCHLD and a read always do: it is checked to come after the spawn and
 * before the answer, and shown just before the answer. How many writes a
 * large answer takes depends on the socket: a run of plain writes shows as one.
 */
function normalize(events: TraceEvent[]): string[] {
  const ordered = [...events].sort((a, b) => a.conn - b.conn);
  const lines: string[] = [];
  for (const e of ordered) {
    if (e.kind === 'exit') continue;
    if (e.kind === 'answer') {
      const exit = ordered.find((x) => x.kind === 'exit' && x.conn === e.conn);
      const spawn = ordered.find((x) => x.kind === 'spawn' && x.conn === e.conn);
      if (exit !== undefined && spawn !== undefined && exit.t >= spawn.t && exit.t <= e.t) lines.push(shown(exit));
      else if (exit !== undefined) lines.push(`exit out of place: ${shown(exit)}`);
    }
    lines.push(shown(e));
  }
  return lines.filter(
    (line, i) => !(/^\d+ write: write \d+ bytes$/.test(line) && /^\d+ write: /.test(lines[i - 1] ?? '')),
  );
}

const get = (port: number, bytes: string) => rawRequest(port, bytes, { timeoutMs: 3000 }).then(() => undefined);

/** Write `bytes`, then reset the connection after the first byte of the answer. */
function resetMidAnswer(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.once('data', () => {
      socket.resetAndDestroy();
      resolve();
    });
    socket.on('error', () => resolve());
  });
}

const SCENARIOS: Record<string, { cgiStdout?: 'socket' | 'pipe'; run: (port: number) => Promise<void> }> = {
  'a static GET': { run: (port) => get(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n') },
  'a pipelined pair': {
    run: (port) =>
      get(
        port,
        'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      ),
  },
  'a 304': {
    run: async (port) => {
      const first = await rawRequest(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const etag = /ETag: ("[^"]+")/i.exec(first.data.toString('latin1'))?.[1] ?? '""';
      await get(port, `GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`);
    },
  },
  'a CGI POST, socket mode': {
    cgiStdout: 'socket',
    run: (port) =>
      get(
        port,
        'POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
      ),
  },
  'a CGI POST, pipe mode': {
    cgiStdout: 'pipe',
    run: (port) =>
      get(
        port,
        'POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
      ),
  },
  'an nph- script': { run: (port) => get(port, 'GET /cgi-bin/nph-hi.sh HTTP/1.1\r\nHost: x\r\n\r\n') },
  'a client that resets mid-answer': {
    run: (port) => resetMidAnswer(port, 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n'),
  },
  'a parse error': { run: (port) => get(port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n') },
};

for (const parser of ['wasm', 'native'] as const) {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    t.test(`${parser}: ${name}`, async (t) => {
      const log = await traced(parser, scenario, scenario.run);
      t.matchSnapshot(log, 'events');
    });
  }
}

t.test('a body that begins "HTTP/1.1 200" is traced as body, not as a head (pipe mode)', async (t) => {
  const events: TraceEvent[] = [];
  const server = await startPorta(
    t,
    { root: site.dir, cgiStdout: 'pipe', traceBytes: 400 },
    { traceListener: (e) => events.push(e) },
  );
  const answer = await rawRequest(
    server.port,
    'GET /cgi-bin/quote.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  t.match(answer.data.toString('latin1'), /\r\n\r\n[0-9a-f]+\r\nHTTP\/1\.1 200 is what/, 'the body arrived');
  const heads = events.filter((e) => e.kind === 'write' && e.data.head !== undefined);
  t.equal(heads.length, 1, 'one head written');
  t.match(String(heads[0]?.data.head), /^"HTTP\/1\.1 200 OK/, "porta's own head");
  await server.close();
});
