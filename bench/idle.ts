// W7's client: open many keep-alive connections in batches, each sends one
// GET and reads the whole answer, then stays open and idle.

import { connect, type Socket } from 'node:net';

export interface IdleSet {
  /** Connections that got a full 200 answer and are still open. */
  open(): number;
  failed: number;
  closeAll(): void;
}

function oneConnection(port: number, path: string, timeoutMs: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let head = '';
    let need = -1;
    let got = 0;
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      socket.setTimeout(0);
      socket.removeAllListeners('data');
      if (!ok) {
        socket.destroy();
        return resolve(null);
      }
      resolve(socket);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (need < 0) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
        if (status !== '200' || length === undefined) return finish(false);
        need = Number(length);
        got = head.length - (end + 4);
      } else {
        got += chunk.length;
      }
      if (got >= need) finish(true);
    });
  });
}

export async function openIdle(port: number, path: string, count: number, batch = 500): Promise<IdleSet> {
  const sockets = new Set<Socket>();
  let failed = 0;
  for (let opened = 0; opened < count; opened += batch) {
    const n = Math.min(batch, count - opened);
    const got = await Promise.all(Array.from({ length: n }, () => oneConnection(port, path, 10_000)));
    for (const socket of got) {
      if (socket === null) {
        failed++;
        continue;
      }
      sockets.add(socket);
      // The server may close an idle connection: then it no longer counts.
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
  }
  return {
    open: () => sockets.size,
    failed,
    closeAll() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  };
}
