// A keep-alive load generator for large bodies (W3). autocannon appends every
// body chunk to a JS string (pipelinedRequestsQueue.addBody), which held every
// server to ~50 MiB/s on a 10 MiB file here while curl read 400+ MiB/s: it
// measured itself. This one counts body bytes and keeps none.
//
// N connections, each: write GET, read the head (status, Content-Length),
// count the body's bytes, record the latency (request written to last byte),
// send the next request on the same connection.

import { connect, type Socket } from 'node:net';
import type { LoadResult } from './closeload';
import { MiB, percentile } from './util';

export interface KeepLoadOptions {
  port: number;
  path: string;
  connections: number;
  durationS: number;
  timeoutMs?: number;
}

export function keepLoad(options: KeepLoadOptions): Promise<LoadResult> {
  const request = Buffer.from(`GET ${options.path} HTTP/1.1\r\nHost: 127.0.0.1:${options.port}\r\n` +
    'User-Agent: porta-keepload\r\nAccept: */*\r\n\r\n', 'latin1');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const start = performance.now();
  const deadline = start + options.durationS * 1000;
  const latencies: number[] = [];
  let bytes = 0;
  let errors = 0;
  let non2xx = 0;
  let last = start;

  const connection = () => new Promise<void>((resolve) => {
    let socket: Socket;
    let head: Buffer | null = null;
    let remaining = -1;
    let status = 0;
    let closeAfter = false;
    let sentAt = 0;

    const open = () => {
      if (performance.now() >= deadline) return resolve();
      head = null;
      remaining = -1;
      const s = connect({ port: options.port, host: '127.0.0.1', noDelay: true });
      socket = s;
      // Events of a socket we already left behind are not this connection's business.
      s.setTimeout(timeoutMs, () => s === socket && fail());
      s.on('connect', send);
      s.on('data', (chunk: Buffer) => s === socket && onData(chunk));
      s.on('error', () => s === socket && fail());
      s.on('close', () => s === socket && remaining !== -2 && fail());
    };
    const send = () => {
      sentAt = performance.now();
      socket.write(request);
    };
    const fail = () => {
      if (remaining === -2) return;
      remaining = -2;
      errors++;
      socket.destroy();
      setTimeout(open, 10);
    };
    const done = () => {
      const now = performance.now();
      last = now;
      if (status >= 200 && status <= 299) latencies.push(now - sentAt);
      else non2xx++;
      head = null;
      remaining = -1;
      if (now >= deadline || closeAfter) {
        remaining = -2;
        socket.destroy();
        if (now >= deadline) return resolve();
        return open();
      }
      send();
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      const current = socket;
      let at = 0;
      while (at < chunk.length) {
        if (remaining === -2 || current !== socket) return;
        if (remaining < 0) {
          head = head === null ? chunk.subarray(at) : Buffer.concat([head, chunk.subarray(at)]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const text = head.toString('latin1', 0, end);
          status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1];
          if (length === undefined) return fail();
          closeAfter = /\r\nconnection:\s*close/i.test(text);
          const consumed = head.length - (chunk.length - at);
          at += end + 4 - consumed;
          remaining = Number(length);
          head = null;
        }
        const take = Math.min(remaining, chunk.length - at);
        remaining -= take;
        at += take;
        if (remaining === 0) done();
      }
    };
    open();
  });

  return Promise.all(Array.from({ length: options.connections }, connection)).then(() => {
    const seconds = Math.max(1e-3, (last - start) / 1000);
    latencies.sort((a, b) => a - b);
    return {
      requests: latencies.length,
      seconds,
      rps: latencies.length / seconds,
      mibps: bytes / MiB / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      errors,
      non2xx,
    };
  });
}
