// A keep-alive load generator (W3's large bodies, W6's static half).
// autocannon appends every body chunk to a JS string
// (pipelinedRequestsQueue.addBody), which held every server to ~50 MiB/s on a
// 10 MiB file here while curl read 400+ MiB/s: it measured itself. This one
// counts body bytes and keeps none, and records latency with
// performance.now()'s sub-ms precision (autocannon's is whole milliseconds).
//
// N connections, each: write GET, read the head (status, Content-Length),
// count the body's bytes, record the latency (request written to last byte),
// send the next request on the same connection.

import { connect, type Socket } from 'node:net';
import { LoadTally, type LoadOptions, type LoadResult } from './util';

export function keepLoad(options: LoadOptions): Promise<LoadResult> {
  const tally = new LoadTally(options, 'keepload');
  const { deadline, timeoutMs } = tally;

  const connection = () =>
    new Promise<void>((resolve) => {
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
        socket.write(tally.request);
      };
      const fail = () => {
        if (remaining === -2) return;
        remaining = -2;
        tally.errors++;
        socket.destroy();
        setTimeout(open, 10);
      };
      const done = () => {
        const now = performance.now();
        tally.last = now;
        if (status >= 200 && status <= 299) tally.latencies.push(now - sentAt);
        else tally.non2xx++;
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
        tally.bytes += chunk.length;
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

  return Promise.all(Array.from({ length: options.connections }, connection)).then(() => tally.result());
}
