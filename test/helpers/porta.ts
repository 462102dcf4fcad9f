// Test helpers: a porta on port 0 in this process, and a raw TCP client that
// writes exact bytes and returns exact bytes. Protocol tests use nothing else.

import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultLimits, defaultSettings, type Limits, type Settings } from '../../src/config';
import { createPorta, type Porta, type PortaOptions } from '../../src/server';

export interface TestServer {
  porta: Porta;
  port: number;
  /** What the server logged so far (access and error lines, in order). */
  logs(): string;
  close(): Promise<void>;
}

export type SettingsOverride = Partial<Omit<Settings, 'limits'>> & { limits?: Partial<Limits> };

/**
 * A porta on port 0 in this process, closed when `t` ends. Its log goes to a
 * buffer, printed only if `t` failed: expected "killed"/"malformed" lines are
 * not noise in a passing run, and a failing one shows what the server said.
 */
export async function startPorta(
  t: Test,
  override: SettingsOverride = {},
  options: PortaOptions = {},
): Promise<TestServer> {
  const { limits, ...rest } = override;
  const settings: Settings = {
    ...defaultSettings,
    hosts: ['127.0.0.1'],
    port: 0,
    quiet: true,
    ...rest,
    limits: { ...defaultLimits, ...limits },
  };
  let logged = '';
  // PORTA_TEST_LOG=1 shows every server's log as it happens (debugging).
  const live = process.env['PORTA_TEST_LOG'] === '1';
  const keep = (text: string): void => {
    if (live) process.stderr.write(text);
    else logged += text;
  };
  const porta = createPorta(settings, { access: keep, error: keep }, options);
  const [listening] = await porta.listen();
  const port = listening?.port ?? 0;
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= porta.close();
    return closed;
  };
  t.teardown(async () => {
    await close();
    if (!t.passing() && logged !== '') process.stderr.write(`--- the server's log (${t.name}) ---\n${logged}---\n`);
  });
  return { porta, port, logs: () => logged, close };
}

export interface RawOptions {
  /** Write each piece separately, waiting `gapMs` between them. */
  gapMs?: number;
  /** Stop collecting after this long even if the server has not closed. */
  timeoutMs?: number;
  /** Stop once this many bytes arrived, or once `until(data)` says so. */
  until?: (data: Buffer) => boolean;
}

/** Send `pieces` over a fresh connection; resolve with all bytes received before close/until/timeout. */
export function rawRequest(
  port: number,
  pieces: string | Buffer | Array<string | Buffer>,
  options: RawOptions = {},
): Promise<{ data: Buffer; closed: boolean; reset: boolean }> {
  const list = Array.isArray(pieces) ? pieces : [pieces];
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    /** The server closed with a reset (ECONNRESET), not a FIN. */
    let reset = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed, reset });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 3000);
    socket.on('data', (d) => {
      chunks.push(d);
      if (options.until?.(Buffer.concat(chunks)) === true) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        reset = !done;
        finish(true);
      } else if (!done) reject(err);
    });
    socket.on('connect', async () => {
      for (const piece of list) {
        if (socket.destroyed) return;
        socket.write(piece);
        if (options.gapMs !== undefined) await sleep(options.gapMs);
      }
    });
  });
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface ParsedResponse {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Split a byte stream into responses (Content-Length, chunked, or to the end).
 * `headRequests` lists which responses answer HEAD (no body follows them).
 */
export function parseResponses(data: Buffer, headRequests: boolean[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  while (pos < data.length) {
    // Heads end at the first empty line. In CGI socket mode the program's own
    // header lines follow porta's, and a program may end them with LF alone.
    const head = findHeadEnd(data, pos);
    if (head === null)
      throw new Error(`incomplete head at ${pos}: ${JSON.stringify(data.subarray(pos).toString('latin1'))}`);
    const lines = head.lines;
    const statusLine = lines[0] ?? '';
    const status = Number(statusLine.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    pos = head.bodyStart;
    let body: Buffer = Buffer.alloc(0);
    const noBody =
      headRequests[out.length] === true || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (noBody) {
      // nothing
    } else if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', pos);
        const size = parseInt(data.subarray(pos, lineEnd).toString('latin1'), 16);
        if (lineEnd < 0 || Number.isNaN(size) || pos + size + 2 > data.length) {
          throw new Error(`truncated chunked body at ${pos}`);
        }
        pos = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n', pos);
          if (trailerEnd < 0) throw new Error(`truncated chunked body at ${pos}`);
          pos = trailerEnd + 2;
          break;
        }
        parts.push(data.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = data.subarray(pos, pos + length);
      pos += length;
    } else {
      body = data.subarray(pos);
      pos = data.length;
    }
    out.push({ status, statusLine, headers, body });
  }
  return out;
}

function findHeadEnd(data: Buffer, from: number): { lines: string[]; bodyStart: number } | null {
  const lines: string[] = [];
  let pos = from;
  for (;;) {
    const lf = data.indexOf(0x0a, pos);
    if (lf < 0) return null;
    const line = data.subarray(pos, lf > pos && data[lf - 1] === 0x0d ? lf - 1 : lf).toString('latin1');
    pos = lf + 1;
    if (line === '') return { lines, bodyStart: pos };
    lines.push(line);
  }
}

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(prefix = 'porta-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // mkdtemp makes it 0700; CGI programs run as nobody when the tests run as root.
  chmodSync(dir, 0o755);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Everything a socket receives, with a way to wait for a condition. */
export class Collector {
  data: Buffer = Buffer.alloc(0);
  closed = false;
  #wakers: Array<() => void> = [];

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  async waitFor(condition: () => boolean, timeoutMs = 3000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!condition()) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}

/** One GET with Connection: close over a fresh connection; its parsed response. */
export async function getOnce(port: number, target: string): Promise<ParsedResponse | undefined> {
  const { data } = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
    timeoutMs: 5000,
  });
  return parseResponses(data)[0];
}

/** A self-signed certificate for localhost and 127.0.0.1 in `dir` (openssl, which make test-deps installs). */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ].concat(['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']),
    { stdio: 'ignore' },
  );
  return { cert, key };
}
