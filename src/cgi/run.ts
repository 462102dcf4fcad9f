// run_cgi: one program run, in stages (lighttpd's mod_cgi has the same
// shape):
//   receiving — the body is taken first when the program needs CONTENT_LENGTH
//               before it starts (chunked) or the socket is to be lent;
//   starting  — socket and nph modes lend the socket (socket mode writes
//               porta's status line first), then the program is started;
//   running   — stdin fed, stderr logged (stderr.ts), stdout relayed (pipe mode, relay.ts)
//               or written by the program straight to the client;
//   done      — reaped, its process group cleaned up, the slot given back.
// A timeout or a vanished client kills the whole process group at any stage.
// Every callback here may run after the client left: the exchange then
// answers 'gone', and #stage === 'done' stops the rest.

import type { Writable } from 'node:stream';
import type { Limits } from '../config';
import type { Exchange, HandedSocket } from '../http/exchange';
import type { HeaderList } from '../http/response';
import { spoolBody } from './body';
import { buildEnvironment, type ScriptInfo } from './env';
import type { ExitStatus, LaunchedChild, Launcher, RunAs, StdoutTarget } from './launcher';
import { CgiRelay, describeExit } from './relay';
import { stderrLog } from './stderr';
import { traceExit, traceSpawn } from './narrate';
import { programNice } from './user';

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
  user: RunAs | null;
  /** X-Sendfile: serve a file under the root as static files are served. */
  sendFile(exchange: Exchange, path: string, status: number, headers: HeaderList): void;
  /** Local redirect (RFC 3875 §6.2.2): answer `location` as a new GET. */
  redirect(exchange: Exchange, location: string): void;
}

type RunStage = 'receiving' | 'starting' | 'running' | 'done';
type Feed = ((stdin: Writable) => void) | null;

export class CgiRun {
  readonly #exchange: Exchange;
  readonly #plan: RunPlan;
  readonly #ctx: RunContext;
  readonly #release: () => void;
  #stage: RunStage = 'receiving';
  #child: LaunchedChild | null = null;
  /** Socket and nph modes: the lent socket, owned by this run until release(). */
  #handed: HandedSocket | null = null;
  /** The socket's fd number in porta when it became the program's stdout (for the trace; never used again). */
  #spawnedOn: number | null = null;
  #relay: CgiRelay | null = null;
  #timer: NodeJS.Timeout | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  /** Why porta stopped the program, if it did: its exit is then no news. */
  #stopped: 'timeout' | 'client gone' | 'server stopping' | null = null;
  #reaped = false;
  /** Socket and nph modes: the launcher saw the client reset. */
  #resetSeen = false;
  /** performance.now() when the launch was asked for: the access log's upstream time runs from it. */
  #launchedAt = 0;
  #slotReleased = false;

  constructor(exchange: Exchange, plan: RunPlan, ctx: RunContext, release: () => void) {
    this.#exchange = exchange;
    this.#plan = plan;
    this.#ctx = ctx;
    this.#release = release;
  }

  get #label(): string {
    return this.#plan.script.scriptName;
  }

  // ---- receiving -----------------------------------------------------------------

  start(): void {
    const exchange = this.#exchange;
    exchange.onClose(() => this.#clientGone());
    if (exchange.gone) return this.#finishRun();
    const req = exchange.request;
    const chunked = req.header('transfer-encoding') !== undefined;
    const declared = Number(req.header('content-length') ?? '0');
    if (chunked || (this.#plan.mode !== 'pipe' && declared > 0)) {
      // CONTENT_LENGTH must be known before the program starts (§4.1.2), and a
      // socket lent to a program can no longer be read: take the body first.
      spoolBody(
        exchange,
        this.#ctx.limits.cgiBodyMemory,
        (spool) => {
          const feed: Feed = spool.length > 0 ? (stdin) => spool.pipeTo(stdin) : null;
          this.#launch(spool.length, feed, () => spool.dispose());
        },
        (err) => this.#fail(500, `request body could not be stored: ${err.message}`),
      );
      return;
    }
    if (declared > 0) return this.#launch(declared, (stdin) => this.#streamBody(stdin), noCleanup);
    this.#launch(null, null, noCleanup);
  }

  /** Pipe mode with Content-Length: the body flows from the socket to stdin as it arrives. */
  #streamBody(stdin: Writable): void {
    const exchange = this.#exchange;
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

  // ---- starting ------------------------------------------------------------------

  /** `feed` null: there is no body and the program's stdin is /dev/null. */
  #launch(bodyLength: number | null, feed: Feed, cleanup: () => void): void {
    if (this.#stage === 'done') return cleanup();
    // A program is too costly to start for nobody. Under a storm of clients
    // that send and reset, most of those queued for a slot are gone by the
    // time one frees: not reading their sockets meanwhile, porta would not
    // otherwise know. (The abort runs #clientGone: the run is done.)
    if (!this.#exchange.clientPresent()) return cleanup();
    this.#stage = 'starting';
    this.#launchedAt = performance.now();
    const exchange = this.#exchange;
    const plan = this.#plan;
    const env = buildEnvironment(exchange.request, plan.script, bodyLength, this.#ctx.passEnv, plan.mode);
    exchange.trace?.(
      'dispatch',
      `CGI: ${plan.script.scriptName} runs as ${[plan.program, ...plan.args].join(' ')}; mode ${plan.mode}` +
        (plan.mode === 'pipe' ? ' (porta parses its header block)' : ' (its stdout will be the client socket)'),
      { handler: 'cgi', script: plan.script.scriptName, program: plan.program, argv: plan.args, mode: plan.mode, env },
    );
    const spawn = (stdout: StdoutTarget): void => {
      this.#ctx.launcher
        .launch({
          program: plan.program,
          args: plan.args,
          env,
          cwd: plan.cwd,
          nice: programNice(this.#ctx.limits.cgiNice),
          user: this.#ctx.user,
          stdin: feed === null ? 'null' : 'pipe',
          stdout,
          stderr: stderrLog(this.#label, this.#ctx.limits.cgiMaxStderr, (line) => exchange.logError(line)),
        })
        .then(
          exchange.contain((child: LaunchedChild) => this.#begin(child, feed, cleanup)),
          exchange.contain((err: Error) => {
            exchange.logError(`cannot start ${plan.program}: ${err.message}`);
            cleanup();
            this.#fail(500, 'the program could not be started');
          }),
        );
    };
    if (plan.mode === 'pipe') return spawn({ kind: 'pipe' });
    // Socket and nph modes: the program writes to the client itself. The fd
    // is read from the socket's handle in the turn the socket is handed over
    // and given to the launcher in that same turn (which dups it at once).
    exchange.handOff(plan.mode === 'socket', (handed) => {
      const fd = handed?.fd() ?? null;
      if (handed === null || fd === null || this.#stage === 'done') {
        handed?.release(0, 0);
        cleanup();
        return this.#finishRun(); // the client left while porta's head was written
      }
      this.#handed = handed;
      this.#spawnedOn = fd; // shown by the trace only; the launcher dups it in this same turn
      spawn({ kind: 'socket', fd, onReset: exchange.contain((code: string) => this.#clientReset(code)) });
    });
  }

  // ---- running -------------------------------------------------------------------

  #begin(child: LaunchedChild, feed: Feed, cleanup: () => void): void {
    if (this.#stage === 'done') {
      // The client left (or the run failed) while the program was starting.
      child.kill('SIGKILL');
      child.stdin?.destroy();
      child.stdout?.destroy();
      void child.exited.then(cleanup);
      return;
    }
    this.#child = child;
    this.#stage = 'running';
    this.#armTimeout();
    if (this.#resetSeen) this.#stopForReset();
    const trace = this.#exchange.trace;
    if (trace !== null) traceSpawn(trace, child.pid, this.#plan, this.#spawnedOn, this.#launchedAt);
    if (child.stdin !== null && feed !== null) {
      child.stdin.on('error', () => undefined); // EPIPE: the program exited without reading
      feed(child.stdin);
    }
    if (child.stdout !== null) {
      const relay = new CgiRelay(
        this.#exchange,
        {
          redirect: this.#ctx.redirect,
          sendFile: this.#ctx.sendFile,
          fail: (status, detail) => {
            this.#kill('SIGTERM');
            this.#fail(status, detail);
          },
          // Stdout read to its end after the program was reaped: the timeout kept for it (#finishRun) goes.
          closed: () => {
            if (this.#reaped && this.#timer !== null) clearTimeout(this.#timer);
          },
        },
        this.#label,
        this.#ctx.limits.cgiMaxHeaderSize,
      );
      this.#relay = relay;
      relay.attach(child.stdout);
    }
    void child.exited.then(
      this.#exchange.contain((status: ExitStatus) => {
        cleanup();
        this.#exited(status);
      }),
    );
  }

  #armTimeout(): void {
    this.#timer = setTimeout(
      this.#exchange.contain(() => {
        this.#stopped = 'timeout';
        this.#exchange.logError(
          this.#reaped
            ? `${this.#label}: its stdout was still open ${this.#ctx.limits.cgiTimeoutMs} ms after it started, held by a process it left behind: the answer is cut`
            : `${this.#label}: timed out after ${this.#ctx.limits.cgiTimeoutMs} ms, killed`,
        );
        this.#kill('SIGTERM');
        if (this.#reaped) this.#child?.stdout?.destroy(); // our end of a pipe someone else holds
        // Pipe mode: 504 if nothing was sent yet, else the answer is cut short.
        if (this.#plan.mode === 'pipe') this.#fail(504, 'the program took too long');
      }),
      this.#ctx.limits.cgiTimeoutMs,
    );
  }

  /** TERM the process group now, KILL it after the grace period if it lingers. */
  #kill(signal: NodeJS.Signals): void {
    const child = this.#child;
    // Once reaped, its pid (the group's id) may be anyone's: only #reapGroup,
    // which checks the group is still there, signals after that.
    if (child === null || this.#reaped) return;
    child.kill(signal);
    if (signal === 'SIGTERM' && this.#killTimer === null) {
      this.#killTimer = setTimeout(() => child.kill('SIGKILL'), this.#ctx.limits.cgiKillGraceMs);
    }
  }

  // ---- done ----------------------------------------------------------------------

  #exited(status: ExitStatus): void {
    this.#reaped = true;
    const ms = Math.round(performance.now() - this.#launchedAt);
    const trace = this.#exchange.trace;
    if (trace !== null) traceExit(trace, this.#child?.pid ?? null, status, ms);
    this.#exchange.noteUpstream(Math.round((performance.now() - this.#launchedAt) * 1000));
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    // Nothing reads the other end of stdin any more: our end goes (a body
    // still arriving, or a client gone mid-body, would otherwise hold it).
    this.#child?.stdin?.destroy();
    if (status.notStarted !== undefined) return this.#notStarted(status.notStarted);
    if ((status.code !== 0 || status.signal !== null) && this.#stopped === null) {
      this.#exchange.logError(`${this.#label}: ${describeExit(status)}`);
    }
    this.#reapGroup();
    this.#relay?.exited(status);
    // Socket and nph modes: the program is done with the socket; the
    // connection ends it, whoever else still holds the fd (a grandchild):
    // with a FIN after an exit, with a reset after a timeout or a signal,
    // for its answer, ended by the close, may be cut anywhere.
    this.#handed?.release(200, 0, this.#cutBy(status));
    this.#handed = null;
    this.#finishRun();
  }

  /**
   * Socket and nph modes: why the program's answer may be incomplete, if it
   * may. An exit, zero or not, leaves its answer standing (as in pipe mode).
   */
  #cutBy(status: ExitStatus): string | undefined {
    if (this.#stopped === 'timeout') return 'the program took too long';
    if (this.#stopped === 'server stopping') return 'the server stopped the program';
    if (status.signal !== null) return `the program was ${describeExit(status)}`;
    return undefined;
  }

  /** The launcher learnt at its exit that the program never ran: as when launch() fails. */
  #notStarted(err: Error): void {
    this.#exchange.logError(`cannot start ${this.#plan.program}: ${err.message}`);
    this.#child = null; // nothing ran: #fail answers (or gives the socket back) as for a failed launch
    this.#relay = null;
    this.#fail(500, 'the program could not be started');
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
    }, this.#ctx.limits.cgiKillGraceMs).unref();
  }

  /** The server stops: TERM (then KILL after the kill grace), or KILL at once (`now`: a second signal). */
  stop(now = false): void {
    if (this.#stage === 'done') return;
    this.#stopped ??= 'server stopping';
    this.#kill(now ? 'SIGKILL' : 'SIGTERM');
    if (this.#child === null) this.#finishRun();
  }

  /**
   * Socket and nph modes: the client reset the connection the program writes
   * to (the launcher watches it; porta's connection reads it no more). The
   * program is stopped, as in pipe mode, rather than left to its timeout;
   * its exit gives the socket back. Seen while it was still starting: stopped
   * as soon as it runs.
   */
  #clientReset(code: string): void {
    if (this.#stage === 'done' || this.#reaped || this.#resetSeen) return;
    this.#resetSeen = true;
    this.#exchange.logError(`${this.#label}: the client reset the connection (${code}): the program is stopped`);
    if (this.#child !== null) this.#stopForReset();
  }

  #stopForReset(): void {
    this.#stopped ??= 'client gone';
    this.#kill('SIGTERM');
  }

  #clientGone(): void {
    if (this.#stage === 'done') return;
    this.#stopped ??= 'client gone';
    this.#kill('SIGTERM');
    if (this.#child === null) this.#finishRun(); // not started yet: nothing to wait for
  }

  /** An error answer where one can still be given; otherwise the connection goes. */
  #fail(status: number, detail: string): void {
    const exchange = this.#exchange;
    if (this.#handed !== null) {
      // Socket and nph modes: porta's head (or the program's) is out; the
      // program is stopped and its exit gives the socket back, or, if it
      // never started, the socket goes back now.
      if (this.#child === null) {
        // Only porta's status line went out: a reset (the connection logs
        // why), or the client would take the unended head for an empty 200.
        this.#handed.release(status, 0, `${this.#label}: ${detail}`);
        this.#handed = null;
      } else exchange.logError(`${this.#label}: ${detail}`);
    } else if (exchange.headSent) {
      exchange.abort(`${this.#label}: ${detail}`);
    } else if (!exchange.gone) {
      exchange.logError(`${this.#label}: ${detail}`);
      exchange.sendError(status, status === 502 ? 'the program sent a malformed response' : detail);
    }
    if (this.#child === null) this.#finishRun();
  }

  #finishRun(): void {
    // The child, if any, has been reaped: its pid may be anyone's now. Pipe
    // mode: a process it left behind outside its group (setsid) may still
    // hold stdout open; the timeout, kept, cuts that answer.
    if (this.#timer !== null && this.#relay?.reading !== true) clearTimeout(this.#timer);
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    this.#stage = 'done';
    if (!this.#slotReleased) {
      this.#slotReleased = true;
      this.#release();
    }
  }
}

function noCleanup(): void {}
