// A CGI program that is not a process: a Launcher whose children are
// PassThrough pipes driven by a plan. The plan says what the program writes
// to stdout (a header block and a body, in random writes), what it says on
// stderr, whether it reads its stdin, and how it ends: EOF then exit, exit
// then EOF, exit with a grandchild holding stdout until the group is killed,
// or never on its own (porta's timeout or the client's leaving must stop
// it). Signals are obeyed as a program would: die, ignore TERM until KILL,
// or trap TERM and exit 0. Writes wait for 'drain' as a blocking write(2)
// into a full pipe would.

import { PassThrough, Writable } from 'node:stream';
import type { ExitStatus, LaunchedChild, Launcher, LaunchSpec } from '../../src/cgi/launcher';
import { turn } from './harness';

export type Ending = 'eofThenExit' | 'exitThenEof' | 'grandchild' | 'hang';

export interface ProgramPlan {
  /** stdout, in the writes the program makes. */
  writes: Buffer[];
  /** Stop after this many writes and end as planned (an early exit), or null to write them all. */
  stopAfter: number | null;
  stderr: Buffer[];
  ending: Ending;
  exit: ExitStatus;
  onTerm: 'die' | 'ignore' | 'exit0';
  readsStdin: boolean;
  /** launch() rejects (ENOENT, EACCES). */
  launchFails: boolean;
  /** Let the loop turn between steps. */
  pauses: boolean[];
}

/** What a pipe holds before a writer blocks (Linux: 64 KiB). */
const PIPE_CAPACITY = 64 * 1024;

/**
 * porta's end of the program's stdin, as a pipe behaves: a program that reads
 * takes everything; one that does not lets a pipe's worth in, then the writer
 * waits; once the program is gone every write fails with EPIPE.
 */
export class ProgramStdin extends Writable {
  /** Bytes the program read. */
  bytes = 0;
  readonly #reads: boolean;
  #buffered = 0;
  #held: Array<(error?: Error | null) => void> = [];
  #readerGone = false;

  constructor(reads: boolean) {
    super({ highWaterMark: 16 * 1024 });
    this.#reads = reads;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#readerGone) return callback(epipe());
    if (this.#reads) {
      this.bytes += chunk.length;
      return callback();
    }
    this.#buffered += chunk.length;
    if (this.#buffered <= PIPE_CAPACITY) return callback();
    this.#held.push(callback);
  }

  /** The program exited: its end of the pipe is closed. */
  readerGone(): void {
    this.#readerGone = true;
    const held = this.#held;
    this.#held = [];
    for (const callback of held) callback(epipe());
  }
}

function epipe(): Error {
  const err: NodeJS.ErrnoException = new Error('write EPIPE');
  err.code = 'EPIPE';
  return err;
}

/** One run of a planned program, as porta sees it through LaunchedChild, and as the fuzzer checks it. */
export class FakeChild implements LaunchedChild {
  readonly pid: number;
  readonly stdin: ProgramStdin | null;
  readonly stdout = new PassThrough();
  /** What the program writes to stderr; the launcher's to read (spec.stderr). */
  readonly stderr = new PassThrough();
  readonly exited: Promise<ExitStatus>;
  readonly spec: LaunchSpec;
  /** What reached stdout, in order. */
  readonly written: Buffer[] = [];
  readonly signals: NodeJS.Signals[] = [];
  /**
   * Signals sent after it was reaped with nothing of its group left: the
   * kernel may have given its pid to another program by then.
   */
  readonly lateSignals: NodeJS.Signals[] = [];
  exitStatus: ExitStatus | null = null;
  /** The exit was reported to porta (the `exited` promise resolved). */
  reaped = false;
  /** Signalled before it exited on its own. */
  stoppedBySignal = false;
  #groupAlive = true;
  #resolveExit: (status: ExitStatus) => void = () => undefined;
  readonly #plan: ProgramPlan;

  constructor(pid: number, spec: LaunchSpec, plan: ProgramPlan) {
    this.pid = pid;
    this.spec = spec;
    this.#plan = plan;
    this.stdin = spec.stdin === 'pipe' ? new ProgramStdin(plan.readsStdin) : null;
    // The launcher reads stderr into porta's sink, as the addon does.
    this.stderr.on('data', (chunk: Buffer) => spec.stderr.data(chunk));
    this.stderr.on('end', () => spec.stderr.end());
    this.exited = new Promise((resolve) => {
      this.#resolveExit = resolve;
    });
  }

  get output(): Buffer {
    return Buffer.concat(this.written);
  }

  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (this.reaped && !this.#groupAlive) this.lateSignals.push(signal);
    if (this.exitStatus !== null) {
      // The group outlived the child (a grandchild holding stdout): it goes now.
      if (this.#groupAlive) this.#groupDies();
      return;
    }
    this.stoppedBySignal = true;
    if (signal === 'SIGKILL') return this.#end({ code: null, signal });
    if (this.#plan.onTerm === 'die') return this.#end({ code: null, signal });
    if (this.#plan.onTerm === 'exit0') return this.#end({ code: 0, signal: null });
    // 'ignore': TERM is trapped and dropped; only KILL ends it.
  }

  groupAlive(): boolean {
    return this.#groupAlive;
  }

  /** The program's life: its writes, then its ending, unless a signal ends it first. */
  async run(): Promise<void> {
    const plan = this.#plan;
    const count = plan.stopAfter ?? plan.writes.length;
    for (let i = 0; i < count; i++) {
      if (plan.pauses[i % plan.pauses.length] === true) await turn();
      if (this.exitStatus !== null) return;
      const chunk = plan.writes[i] as Buffer;
      const err = plan.stderr[i];
      if (err !== undefined && !this.stderr.destroyed) this.stderr.write(err);
      if (this.stdout.destroyed) break; // EPIPE: the reading end is gone
      this.written.push(chunk);
      if (!this.stdout.write(chunk)) await this.#drained();
    }
    if (this.exitStatus !== null) return;
    await turn();
    switch (plan.ending) {
      case 'eofThenExit':
        this.#closePipes();
        await turn();
        return this.#exit(plan.exit);
      case 'exitThenEof':
        this.#exit(plan.exit, false);
        await turn();
        return this.#closePipes();
      case 'grandchild':
        // The child exits; what it started keeps stdout open until the group is signalled.
        this.#exit(plan.exit, false, true);
        return;
      case 'hang':
        return; // until porta's timeout or the client's leaving sends a signal
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.stdout.off('drain', done);
        this.stdout.off('close', done);
        resolve();
      };
      this.stdout.on('drain', done);
      this.stdout.on('close', done);
    });
  }

  #closePipes(): void {
    if (!this.stdout.writableEnded) this.stdout.end();
    if (!this.stderr.writableEnded) this.stderr.end();
  }

  #groupDies(): void {
    this.#groupAlive = false;
    this.#closePipes();
  }

  /** A signal ended it: its pipes close with it, then it is reaped. */
  #end(status: ExitStatus): void {
    this.#closePipes();
    this.#exit(status);
  }

  #exit(status: ExitStatus, closePipes = true, groupLives = false): void {
    if (this.exitStatus !== null) return;
    this.exitStatus = status;
    this.stdin?.readerGone();
    if (closePipes) this.#closePipes();
    if (!groupLives) this.#groupAlive = false;
    // Reaped a moment later, as libuv reports a SIGCHLD.
    setImmediate(() => {
      this.reaped = true;
      this.#resolveExit(status);
    });
  }
}

/** Launches `plan` for every program start (a local redirect to itself starts it again). */
export class FakeLauncher implements Launcher {
  readonly kind = 'child_process';
  plan: ProgramPlan | null = null;
  children: FakeChild[] = [];
  launches = 0;
  #pid = 100_000;

  launch(spec: LaunchSpec): Promise<LaunchedChild> {
    const plan = this.plan;
    this.launches++;
    if (plan === null) return Promise.reject(new Error('no program planned'));
    if (plan.launchFails) return Promise.reject(new Error('spawn failed: ENOENT'));
    const child = new FakeChild(++this.#pid, spec, plan);
    this.children.push(child);
    // It starts running once porta has it, as a real program starts after spawn returns.
    setImmediate(() => void child.run());
    return Promise.resolve(child);
  }

  reset(plan: ProgramPlan): void {
    this.plan = plan;
    this.children = [];
    this.launches = 0;
  }

  /** Some program has not been reaped, or its group lives on. */
  get busy(): boolean {
    return this.children.some((c) => !c.reaped || c.groupAlive());
  }
}
