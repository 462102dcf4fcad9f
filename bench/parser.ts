// Requests parsed per second by each llhttp build, through porta's own parser
// interface (src/http/parser), driven the way src/net/connection.ts drives it:
// the sink asks to pause at every message end, execute() returns 'paused',
// the caller resume()s and feeds the rest from parser.offset on.
//
//   node build/bench/parser.js [--seconds 2] [--requests 1000]

import { parseArgs } from 'node:util';
import { createParser, effectiveParserKind, type ParserKind, type RequestHead } from '../src/http/parser';
import { sample, type Sample } from './harness';
import { MiB } from './util';

export const PARSER_KINDS: readonly ParserKind[] = ['wasm', 'native'];

/** `count` typical browser GETs back to back, as a pipelining client sends them. */
export function pipelinedRequests(count: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(
      `GET /assets/img/photo-${i}.jpg?v=${i % 7} HTTP/1.1\r\n` +
        'Host: localhost:8080\r\n' +
        'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n' +
        'Accept: image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5\r\n' +
        'Accept-Language: en-US,en;q=0.5\r\n' +
        'Accept-Encoding: gzip, deflate, br, zstd\r\n' +
        'Referer: http://localhost:8080/gallery/index.html\r\n' +
        'Connection: keep-alive\r\n' +
        `Cookie: session=${((i * 2654435761) >>> 0).toString(16)}; theme=dark\r\n` +
        '\r\n',
    );
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** Parse `input` over and over for about `seconds`; requests and bytes per second. */
export function parserRate(kind: ParserKind, input: Buffer, expected: number, seconds: number, pause = true): Sample {
  let heads = 0;
  let ends = 0;
  let lastUrl = '';
  const parser = createParser(
    kind,
    {
      onRequestBegin() {},
      onRequestHead(head: RequestHead) {
        heads++;
        lastUrl = head.url;
      },
      onRequestBody() {},
      onRequestEnd() {
        ends++;
        return pause; // pause at every message end, as the connection does
      },
    },
    { maxHeaderSize: 16 * 1024 },
  );
  const pass = () => {
    let rest = input;
    for (;;) {
      const status = parser.execute(rest);
      if (status === 'ok') return;
      if (status === 'error') throw new Error(`${kind}: ${parser.error?.code ?? '?'} ${parser.error?.reason ?? ''}`);
      // As the connection does (src/net/reader.ts): after resume() the rest is
      // fed even when empty. The native adapter holds the head that followed a
      // pause and delivers it on that execute.
      parser.resume();
      rest = rest.subarray(parser.offset);
    }
  };
  try {
    // One checked pass: every request seen once, none lost at a pause.
    pass();
    if (heads !== expected || ends !== expected || !lastUrl.startsWith('/assets/img/photo-')) {
      throw new Error(`${kind}: one pass gave ${heads} heads and ${ends} ends, not ${expected}`);
    }
    let passes = 0;
    const start = performance.now();
    const until = start + seconds * 1000;
    let now = start;
    while (now < until) {
      for (let i = 0; i < 10; i++) pass();
      passes += 10;
      now = performance.now();
    }
    const elapsed = (now - start) / 1000;
    if (heads !== expected * (passes + 1))
      throw new Error(`${kind}: lost requests (${heads} heads after ${passes + 1} passes)`);
    return sample({ rps: (passes * expected) / elapsed, mibps: (passes * input.length) / MiB / elapsed });
  } finally {
    parser.destroy();
  }
}

/** The build that really runs for `kind` (native falls back to wasm where Node lacks it). */
export function parserSkip(kind: ParserKind): string | null {
  return effectiveParserKind(kind) === kind ? null : `skipped: Node's native llhttp binding is not available here`;
}

function main(): void {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, requests: { type: 'string' } } });
  const seconds = Number(values.seconds ?? '2');
  const count = Number(values.requests ?? '1000');
  const input = pipelinedRequests(count);
  process.stdout.write(`${count} pipelined GETs, ${input.length} bytes, ~${seconds} s per build\n`);
  for (const pause of [true, false]) {
    for (const kind of PARSER_KINDS) {
      const label = pause ? kind : `${kind} (no pause)`;
      const skip = parserSkip(kind);
      if (skip !== null) {
        process.stdout.write(`${label}: ${skip}\n`);
        continue;
      }
      const s = parserRate(kind, input, count, seconds, pause);
      process.stdout.write(
        `${label}: ${Math.round(s.rps).toLocaleString('en-US')} requests/s, ${s.mibps.toFixed(1)} MiB/s\n`,
      );
    }
  }
}

if (require.main === module) main();
