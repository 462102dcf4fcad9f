// A tiny load generator for close-delimited responses, which autocannon cannot
// count (its parser is never told about EOF, so a response without
// Content-Length or chunked framing never completes; see bench/README.md).
//
// N concurrent loops of: connect, write one request with `Connection: close`,
// read to EOF, check the status is 200 and the body holds the expected text,
// record the latency (connect to EOF). Used for every server in W4/W5/W6 so
// that they are measured alike.
//
//   node build/bench/closeload.js --port P --path /cgi-bin/hello.sh --expect TEXT
//        [--connections 16] [--duration 10]        prints one JSON LoadResult

import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { LoadTally, type LoadOptions, type LoadResult } from './util';

export interface CloseLoadOptions extends LoadOptions {
  /** Text the body must contain; a response without it counts as an error. */
  expect: string;
}

interface Outcome {
  status: number;
  bytes: number;
  ms: number;
  /** Transport failure or a 200 whose body lacked the expected text. */
  error: boolean;
}

function once(port: number, request: Buffer, expect: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const start = performance.now();
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const finish = (error: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const ms = performance.now() - start;
      if (error) return resolve({ status: 0, bytes, ms, error: true });
      const response = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
      const status = m?.[1] === undefined ? 0 : Number(m[1]);
      const headEnd = response.indexOf('\r\n\r\n');
      const body = headEnd < 0 ? '' : response.slice(headEnd + 4);
      resolve({ status, bytes, ms, error: status === 0 || (status === 200 && !body.includes(expect)) });
    };
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.setTimeout(timeoutMs, () => finish(true));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
    });
    socket.on('end', () => finish(false));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

export async function closeLoad(options: CloseLoadOptions): Promise<LoadResult> {
  const tally = new LoadTally(options, 'closeload', 'Connection: close\r\n');
  const loop = async () => {
    while (performance.now() < tally.deadline) {
      const outcome = await once(options.port, tally.request, options.expect, tally.timeoutMs);
      tally.last = performance.now();
      tally.bytes += outcome.bytes;
      if (outcome.error) {
        tally.errors++;
        // A refused connection fails at once: do not spin.
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (outcome.status < 200 || outcome.status > 299) tally.non2xx++;
      else tally.latencies.push(outcome.ms);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  return tally.result();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      path: { type: 'string' },
      expect: { type: 'string' },
      connections: { type: 'string' },
      duration: { type: 'string' },
    },
  });
  if (values.port === undefined || values.path === undefined) {
    process.stderr.write('usage: closeload --port P --path /x [--expect TEXT] [--connections N] [--duration S]\n');
    process.exit(2);
  }
  const result = await closeLoad({
    port: Number(values.port),
    path: values.path,
    expect: values.expect ?? '',
    connections: Number(values.connections ?? '16'),
    durationS: Number(values.duration ?? '10'),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`closeload: ${err.message}\n`);
    process.exit(1);
  });
}
