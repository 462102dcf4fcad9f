// A small keep-alive HTTP/1.1 client for tests that must judge every answer:
// each request's outcome is one of a few kinds, so a test can count what
// RFC 9112 allows (a reused connection closed before any byte of the answer
// may be retried, §9.3.1) apart from what it never allows (a cut or wrong
// answer).

import { connect, type Socket } from 'node:net';

export type Outcome =
  | { kind: 'ok'; status: number; headers: Record<string, string>; body: Buffer; closes: boolean }
  /** Connection refused, or closed/reset before one byte of the answer. */
  | { kind: 'unanswered'; reused: boolean; detail: string }
  /** Some bytes, then the end: a truncated or malformed answer. */
  | { kind: 'broken'; detail: string };

interface Head {
  status: number;
  headers: Record<string, string>;
  bodyStart: number;
}

function readHead(data: Buffer): Head | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(lines[0]?.split(' ')[1]), headers, bodyStart: end + 4 };
}

/** The answer's end, when the bytes so far hold a whole one (Content-Length or close-delimited at EOF). */
function complete(data: Buffer, eof: boolean): { head: Head; body: Buffer; used: number } | null {
  const head = readHead(data);
  if (head === null) return null;
  const length = head.headers['content-length'];
  if (length !== undefined) {
    const end = head.bodyStart + Number(length);
    return data.length >= end ? { head, body: data.subarray(head.bodyStart, end), used: end } : null;
  }
  if (head.headers['transfer-encoding'] !== undefined) throw new Error('chunked answers are not expected here');
  return eof ? { head, body: data.subarray(head.bodyStart), used: data.length } : null;
}

export class KeepAliveClient {
  readonly #port: number;
  readonly #host: string;
  readonly #localAddress: string | undefined;
  #socket: Socket | null = null;
  #answered = 0;

  constructor(port: number, host = '127.0.0.1', localAddress?: string) {
    this.#port = port;
    this.#host = host;
    this.#localAddress = localAddress;
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = null;
  }

  async get(target: string, extra = ''): Promise<Outcome> {
    const reused = this.#socket !== null;
    const socket = this.#socket ?? (await this.#open());
    if (socket === null) return { kind: 'unanswered', reused: false, detail: 'connection refused' };
    this.#socket = socket;
    const outcome = await this.#exchange(socket, `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`, reused);
    if (outcome.kind !== 'ok' || outcome.closes) this.close();
    else this.#answered++;
    return outcome;
  }

  #open(): Promise<Socket | null> {
    return new Promise((resolve) => {
      const socket = connect({ port: this.#port, host: this.#host, localAddress: this.#localAddress }, () => {
        socket.off('error', failed);
        resolve(socket);
      });
      const failed = (): void => resolve(null);
      socket.once('error', failed);
    });
  }

  #exchange(socket: Socket, request: string, reused: boolean): Promise<Outcome> {
    return new Promise((resolve) => {
      let data = Buffer.alloc(0);
      const done = (outcome: Outcome): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('error', onError);
        resolve(outcome);
      };
      const judge = (eof: boolean, why: string): void => {
        let whole: ReturnType<typeof complete>;
        try {
          whole = complete(data, eof);
        } catch (err) {
          return done({ kind: 'broken', detail: (err as Error).message });
        }
        if (whole !== null) {
          if (whole.used !== data.length) return done({ kind: 'broken', detail: 'bytes after the answer' });
          const closes = eof || whole.head.headers['connection']?.toLowerCase() === 'close';
          return done({ kind: 'ok', status: whole.head.status, headers: whole.head.headers, body: whole.body, closes });
        }
        if (!eof) return;
        if (data.length === 0) return done({ kind: 'unanswered', reused, detail: why });
        done({
          kind: 'broken',
          detail: `${why} after ${data.length} bytes: ${data.subarray(0, 80).toString('latin1')}`,
        });
      };
      const onData = (chunk: Buffer): void => {
        data = Buffer.concat([data, chunk]);
        judge(false, '');
      };
      const onEnd = (): void => judge(true, 'closed');
      const onError = (err: Error): void => judge(true, (err as NodeJS.ErrnoException).code ?? err.message);
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.on('error', onError);
      socket.write(request);
    });
  }

  /** Resolves true when the server closes the (idle) connection within `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<boolean> {
    const socket = this.#socket;
    if (socket === null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const closed = (): void => {
        clearTimeout(timer);
        this.close();
        resolve(true);
      };
      socket.once('end', closed);
      socket.once('close', closed);
      socket.once('error', closed);
    });
  }

  get answered(): number {
    return this.#answered;
  }
}
