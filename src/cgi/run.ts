// run_cgi: one program run, in stages. (1) receive the body when the program
// needs CONTENT_LENGTH first or the socket is to be handed over; (2) in socket
// and NPH modes hand the socket over and write the status line; (3) start the
// program; (4) feed stdin; (5) relay stdout (pipe mode) or let the program
// write to the client itself (socket/NPH); (6) reap it, ending the response.
// A timeout or a vanished client kills the whole process group at any stage.

import type { Readable, Writable } from 'node:stream';
import type { Limits } from '../config';
import type { Exchange, HandedSocket } from '../http/exchange';
import { SERVER_HEADER, dateHeaderLine, statusLine, type HeaderList } from '../http/response';
import { SpooledBody } from './body';
import { buildEnvironment, type ScriptInfo } from './env';
import type { ExitStatus, LaunchedChild, Launcher } from './launcher';
import { CgiHeadParser, type CgiResponse } from './response';

export type CgiMode = 'socket' | 'pipe' | 'nph';

export interface RunPlan {
  program: string;
  args: string[];
  cwd: string;
  script: ScriptInfo;
  mode: CgiMode;
}

export interface RunContext {
  launcher: Launcher;
  limits: Limits;
  passEnv: readonly string[];
  /** X-Sendfile: serve a file under the root as static files are served. */
  sendFile(exchange: Exchange, path: string, status: number, headers: HeaderList): void;
  /** Local redirect (RFC 3875 §6.2.2): answer `location` as a new GET. */
  redirect(exchange: Exchange, location: string): void;
}

type RunStage = 'receiving' | 'starting' | 'running' | 'done';

export class CgiRun {
  #stage: RunStage = 'receiving';
  #child: LaunchedChild | null = null;
  #handed: HandedSocket | null = null;
  #timer: NodeJS.Timeout | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #timedOut = false;
  #stderrBytes = 0;
  #released = false;

  constructor(
    private readonly exchange: Exchange,
    private readonly plan: RunPlan,
    private readonly ctx: RunContext,
    private readonly release: () => void,
  ) {}

  start(): void {
    const { exchange, plan } = this;
    exchange.onClose(() => this.#clientGone());
    const req = exchange.request;
    const chunked = req.header('transfer-encoding') !== undefined;
    const declared = Number(req.header('content-length') ?? '0');
    const handsOff = plan.mode !== 'pipe';
    if (chunked || (handsOff && declared > 0)) {
      // CONTENT_LENGTH must be known before the program starts (§4.1.2), and a
      // socket handed to a child can no longer be read: take the body first.
      const spool = new SpooledBody(this.ctx.limits.cgiBodyMemory);
      exchange.readBody({
        onData: (chunk) => {
          if (!spool.write(chunk)) {
            exchange.pauseBody();
            spool.onDrain(() => exchange.resumeBody());
          }
        },
        onEnd: () => {
          spool.finish().then(
            () =>
              this.#launch(spool.length, spool.length > 0 ? (stdin) => spool.pipeTo(stdin) : null, () =>
                spool.dispose(),
              ),
            (err: Error) => this.#fail(500, `request body could not be stored: ${err.message}`),
          );
        },
      });
      return;
    }
    if (declared > 0) {
      this.#launch(
        declared,
        (stdin) => this.#streamBody(stdin),
        () => undefined,
      );
      return;
    }
    this.#launch(null, null, () => undefined);
  }

  /** Pipe mode with Content-Length: the body flows from the socket to stdin as it arrives. */
  #streamBody(stdin: Writable): void {
    const { exchange } = this;
    let open = true;
    stdin.on('close', () => {
      // The program stopped reading: drop the rest of the body, keep the connection.
      open = false;
      exchange.resumeBody();
    });
    exchange.readBody({
      onData: (chunk) => {
        if (open && !stdin.write(chunk)) {
          exchange.pauseBody();
          stdin.once('drain', () => exchange.resumeBody());
        }
      },
      onEnd: () => {
        if (open) stdin.end();
      },
    });
  }

  /** `feed` null: there is no body and the program's stdin is /dev/null. */
  #launch(bodyLength: number | null, feed: ((stdin: Writable) => void) | null, cleanup: () => void): void {
    if (this.#stage === 'done') return cleanup();
    this.#stage = 'starting';
    const { exchange, plan } = this;
    const env = buildEnvironment(exchange.request, plan.script, bodyLength, this.ctx.passEnv);
    const spawn = (stdoutFd: number | null): Promise<LaunchedChild | null> =>
      this.ctx.launcher
        .launch({
          program: plan.program,
          args: plan.args,
          env,
          cwd: plan.cwd,
          nice: this.ctx.limits.cgiNice,
          stdin: feed === null ? 'null' : 'pipe',
          stdout: stdoutFd === null ? { kind: 'pipe' } : { kind: 'fd', fd: stdoutFd },
        })
        .catch((err: Error) => {
          exchange.logError(`cannot start ${plan.program}: ${err.message}`);
          return null;
        });
    const begin = (child: LaunchedChild | null) => {
      if (child !== null && this.#stage === 'done') {
        // The client left (or the run failed) while the program was starting.
        child.kill('SIGKILL');
        child.stdin?.destroy();
        child.stdout?.destroy();
        child.stderr.destroy();
        child.exited.then(cleanup);
        return;
      }
      if (child === null) {
        cleanup();
        if (this.#stage === 'done') return;
        return this.#fail(500, 'the program could not be started');
      }
      this.#child = child;
      this.#stage = 'running';
      this.#armTimeout();
      if (child.stdin !== null && feed !== null) {
        child.stdin.on('error', () => undefined); // EPIPE: the program exited without reading
        feed(child.stdin);
      }
      this.#collectStderr(child);
      if (child.stdout !== null) this.#relay(child);
      child.exited.then((status) => {
        cleanup();
        this.#exited(status);
      });
    };

    if (plan.mode === 'pipe') return void spawn(null).then(begin);
    const handed = exchange.handOff();
    this.#handed = handed;
    const fd = socketFd(handed);
    if (fd === null) {
      handed.socket.destroy();
      cleanup();
      return this.#finishRun();
    }
    if (plan.mode === 'nph') return void spawn(fd).then(begin);
    // Socket mode: our status line must be on the wire before the program's
    // first byte, or the program's output could overtake it.
    const head = statusLine(200) + dateHeaderLine() + SERVER_HEADER + 'Connection: close\r\n';
    handed.socket.write(head, 'latin1', (err) => {
      if (err !== undefined && err !== null) {
        handed.socket.destroy();
        cleanup();
        return this.#finishRun();
      }
      void spawn(fd).then(begin);
    });
  }

  /** Pipe mode: parse the header block, then stream the body with backpressure. */
  #relay(child: LaunchedChild): void {
    const stdout = child.stdout;
    if (stdout === null) return;
    const { exchange } = this;
    const parser = new CgiHeadParser(this.ctx.limits.cgiMaxHeaderSize);
    let phase: 'head' | 'body' | 'discard' = 'head';
    let sawOutput = false;
    stdout.on('data', (chunk: Buffer) => {
      sawOutput = true;
      if (phase === 'discard') return;
      if (phase === 'body') return this.#write(stdout, chunk);
      const parsed = parser.push(chunk);
      if (parsed.kind === 'more') return;
      if (parsed.kind === 'invalid') {
        phase = 'discard';
        this.#kill('SIGTERM');
        return this.#fail(502, `bad CGI response: ${parsed.reason}`);
      }
      phase = this.#respond(parsed.response) ? 'body' : 'discard';
      if (phase === 'body' && parsed.body.length > 0) this.#write(stdout, parsed.body);
    });
    stdout.on('end', () => {
      if (phase === 'head')
        return this.#fail(502, sawOutput ? 'CGI header block never ended' : 'the program sent no output');
      if (phase === 'body') exchange.end();
    });
    stdout.on('error', () => undefined);
  }

  /** Start the response for a parsed header block. True if a body follows from stdout. */
  #respond(response: CgiResponse): boolean {
    const { exchange } = this;
    switch (response.kind) {
      case 'invalid':
        this.#fail(502, `bad CGI response: ${response.reason}`);
        return false;
      case 'localRedirect':
        this.ctx.redirect(exchange, response.location);
        return false;
      case 'sendfile':
        this.ctx.sendFile(exchange, response.path, response.status, response.headers);
        return false;
      case 'document':
      case 'clientRedirect': {
        const headers: HeaderList = [];
        let length: number | null = null;
        for (const [name, value] of response.headers) {
          if (name.toLowerCase() !== 'content-length') headers.push([name, value]);
          else if (/^\d+$/.test(value)) length = Number(value);
        }
        const status = response.status;
        const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
        exchange.sendHead(
          status,
          headers,
          bodiless ? { kind: 'none' } : length !== null ? { kind: 'length', length } : { kind: 'stream' },
        );
        if (bodiless) {
          exchange.end();
          return false;
        }
        return true;
      }
    }
  }

  #write(stdout: Readable, chunk: Buffer): void {
    if (!this.exchange.write(chunk)) {
      stdout.pause();
      this.exchange.onDrain(() => stdout.resume());
    }
  }

  #collectStderr(child: LaunchedChild): void {
    const max = this.ctx.limits.cgiMaxStderr;
    let pending = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const room = max - this.#stderrBytes;
      this.#stderrBytes += chunk.length;
      if (room <= 0) return;
      pending += chunk.subarray(0, room).toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.exchange.logError(`${this.plan.script.scriptName}: ${line}`);
    });
    child.stderr.on('end', () => {
      if (pending !== '') this.exchange.logError(`${this.plan.script.scriptName}: ${pending}`);
      if (this.#stderrBytes > max)
        this.exchange.logError(`${this.plan.script.scriptName}: ${this.#stderrBytes - max} more stderr bytes dropped`);
    });
    child.stderr.on('error', () => undefined);
  }

  #armTimeout(): void {
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.exchange.logError(
        `${this.plan.script.scriptName}: timed out after ${this.ctx.limits.cgiTimeoutMs} ms, killed`,
      );
      this.#kill('SIGTERM');
      if (this.plan.mode === 'pipe') this.#fail(504, 'the program took too long');
    }, this.ctx.limits.cgiTimeoutMs);
  }

  /** TERM the process group now, KILL it after the grace period if it lingers. */
  #kill(signal: NodeJS.Signals): void {
    const child = this.#child;
    if (child === null || this.#stage === 'done') return;
    child.kill(signal);
    if (signal === 'SIGTERM' && this.#killTimer === null) {
      this.#killTimer = setTimeout(() => child.kill('SIGKILL'), this.ctx.limits.cgiKillGraceMs);
    }
  }

  #exited(status: ExitStatus): void {
    if (status.code !== 0 && !this.#timedOut) {
      const how = status.signal !== null ? `signal ${status.signal}` : `status ${status.code}`;
      this.exchange.logError(`${this.plan.script.scriptName}: exited with ${how}`);
    }
    this.#reapGroup();
    const handed = this.#handed;
    if (handed !== null) {
      // A grandchild may still hold the socket: end() sends FIN (shutdown)
      // whoever else holds the fd, so the client sees EOF now.
      handed.finish(200, 0);
      handed.socket.end(() => handed.socket.destroy());
    }
    this.#finishRun();
  }

  /**
   * No process outlives its request: what the program left running in its
   * group (background jobs holding stdout, say) is sent TERM, then KILL.
   */
  #reapGroup(): void {
    const child = this.#child;
    if (child === null || !child.groupAlive()) return;
    child.kill('SIGTERM');
    setTimeout(() => {
      if (child.groupAlive()) child.kill('SIGKILL');
    }, this.ctx.limits.cgiKillGraceMs).unref();
  }

  #clientGone(): void {
    if (this.#stage === 'done') return;
    this.#kill('SIGTERM');
    if (this.#child === null) this.#finishRun();
  }

  /** An error answer where one can still be given; otherwise the connection goes. */
  #fail(status: number, detail: string): void {
    const { exchange } = this;
    if (this.#handed !== null) {
      this.#handed.socket.destroy();
    } else if (exchange.headSent) {
      exchange.abort(detail);
    } else {
      exchange.logError(`${this.plan.script.scriptName}: ${detail}`);
      exchange.sendError(status, status === 502 ? 'the program sent a malformed response' : detail);
    }
    if (this.#child === null) this.#finishRun();
  }

  #finishRun(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    this.#stage = 'done';
    if (!this.#released) {
      this.#released = true;
      this.release();
    }
  }
}

/** The fd behind a net.Socket (Unix): the number the child gets as its stdout. */
function socketFd(handed: HandedSocket): number | null {
  const handle = (handed.socket as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
