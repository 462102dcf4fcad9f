// What both fuzzers share: a Connection on a FakeSocket with a context that
// records what the connection did (closures, log lines, the exchanges it
// dispatched), an event-loop driver that runs it until nothing moves, the
// guard that turns an escaped exception into a failure, a heap sampler, and
// the command-line flags.

import { AddressRanges } from '../../src/http/cidr';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Settings } from '../../src/config';
import type { Exchange } from '../../src/http/exchange';
import { Log } from '../../src/log';
import type { Dispatch } from '../../src/http/exchange';
import { Connection, type ConnectionContext } from '../../src/net/connection';
import { ConnectionExchange } from '../../src/net/exchange';
import { Tracer } from '../../src/trace';
import { FakeSocket } from './fake-socket';

/** FUZZ_TRACE=1: porta's --trace lines on stderr, for replaying one input. */
const TRACE = process.env['FUZZ_TRACE'] === '1' ? new Tracer({ print: 'text', bytes: 256 }) : null;

/** How an input's connection is watched. */
export class Probe {
  readonly socket: FakeSocket;
  readonly connection: Connection;
  readonly exchanges: ConnectionExchange[] = [];
  /** Access-log lines, in the order the answers completed. */
  readonly access: AccessLine[] = [];
  /** Error-log lines that say porta itself failed ("internal error"). */
  readonly internalErrors: string[] = [];
  /** The last error-log lines, for a failure report. */
  readonly errorTail: string[] = [];
  /** Every error-log line of this connection. */
  readonly errors: string[] = [];
  onClosedCalls = 0;
  readonly #log: Log;

  constructor(settings: Settings, dispatch: Dispatch, highWaterMark: number) {
    this.socket = new FakeSocket({ highWaterMark });
    this.#log = new Log(true, 'common', {
      access: (text) => {
        for (const line of text.split('\n')) if (line !== '') this.access.push(parseAccess(line));
      },
      error: (text) => {
        if (text.includes('internal error')) this.internalErrors.push(text.trimEnd());
        this.errors.push(text);
        this.errorTail.push(text.trimEnd());
        if (this.errorTail.length > 12) this.errorTail.shift();
      },
    });
    const ctx: ConnectionContext = {
      settings,
      dispatch: (exchange: Exchange) => {
        if (exchange instanceof ConnectionExchange) this.exchanges.push(exchange);
        dispatch(exchange);
      },
      log: this.#log,
      trace: TRACE,
      draining: false,
      secure: false,
      trusted: new AddressRanges([]),
      onClosed: () => {
        this.onClosedCalls++;
      },
    };
    this.connection = new Connection(this.socket, ctx);
  }

  /** A handler still owes an answer (or is sending one), and is not just waiting for the client's body. */
  get answering(): boolean {
    for (const exchange of this.exchanges) {
      const open = exchange.state === 'waiting' || exchange.state === 'sending' || exchange.state === 'handedOff';
      // An answer is owed unless the exchange still waits for body bytes from
      // the peer (then quiet is the peer's doing). A whole request with an
      // answer in flight (a file read, a listing, a program) is porta's.
      if (open && (!exchange.wantsBody || exchange.requestComplete)) return true;
    }
    return false;
  }

  get closed(): boolean {
    return this.connection.state === 'closed';
  }

  flushLog(): void {
    this.#log.flush();
  }

  /** Force every deadline: the sweep timer finding this connection overdue. */
  expire(): void {
    // The first sweep to see a state starts its clock; the second, far later, finds it over.
    const now = performance.now();
    this.connection.checkTimeout(now);
    this.connection.checkTimeout(now + 1e9);
  }
}

export interface AccessLine {
  /** The request's method, or null when no request line was understood ("-"). */
  method: string | null;
  target: string | null;
  status: number;
}

function parseAccess(line: string): AccessLine {
  const m = /^\S+ - - \[[^\]]*\] "(.*)" (\d{3}) \S+ \S+ \S+$/.exec(line);
  if (m === null) return { method: null, target: null, status: 0 };
  const request = m[1] as string;
  if (request === '-') return { method: null, target: null, status: Number(m[2]) };
  const [method = null, target = null] = request.split(' ');
  return { method, target, status: Number(m[2]) };
}

export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Run the loop until the connection is closed, or until nothing has moved
 * (state, bytes out, bytes queued) for `quiet` turns while no handler owes an
 * answer and `busy()` says nothing else is under way. False if `deadline`
 * (performance.now()) passed first: a hang. A wait that is only for a timer
 * (a CGI timeout, a kill grace) sleeps a millisecond at a time instead of
 * spinning the loop.
 */
export async function settle(
  probe: Probe,
  deadline: number,
  busy: () => boolean = () => false,
  quiet = 2,
): Promise<boolean> {
  let still = 0;
  let stuck = 0;
  let last = '';
  for (;;) {
    if (stuck > 8) await sleep(1);
    else await turn();
    if (probe.closed && probe.socket.closeEmitted && !busy()) return true;
    const now = `${probe.connection.state} ${probe.socket.receivedBytes} ${probe.socket.writableLength}`;
    const waiting = probe.answering || busy();
    if (now === last) {
      if (!waiting && ++still >= quiet) return true;
      if (waiting) stuck++;
    } else {
      still = 0;
      stuck = 0;
      last = now;
    }
    if (performance.now() > deadline) return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Turns an exception that escapes porta (a throw in a callback, a rejected promise) into a recorded failure. */
export class EscapeGuard {
  readonly escaped: string[] = [];
  readonly #onError = (err: unknown): void => {
    this.escaped.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  };

  install(): void {
    process.on('uncaughtException', this.#onError);
    process.on('unhandledRejection', this.#onError);
  }

  uninstall(): void {
    process.off('uncaughtException', this.#onError);
    process.off('unhandledRejection', this.#onError);
  }

  /** Escapes recorded since `mark`. */
  since(mark: number): string[] {
    return this.escaped.slice(mark);
  }
}

/** Heap in use after a full collection, when one can be forced. */
export class HeapSampler {
  readonly samples: Array<{ inputs: number; heapMiB: number; rssMiB: number }> = [];
  readonly #gc: (() => void) | null;

  constructor() {
    let gc: (() => void) | null = null;
    try {
      // --expose-gc for this process only, without asking whoever runs us for a flag.
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
    this.#gc = gc;
  }

  /** Take a sample; a failure reason if the heap is now `limitMiB` above the first sample. */
  sample(inputs: number, limitMiB: number): string | null {
    this.#gc?.();
    const m = process.memoryUsage();
    const s = { inputs, heapMiB: m.heapUsed / 1048576, rssMiB: m.rss / 1048576 };
    this.samples.push(s);
    const base = this.samples[0] as { heapMiB: number };
    if (s.heapMiB <= base.heapMiB + limitMiB) return null;
    return `heap grew from ${base.heapMiB.toFixed(1)} MiB to ${s.heapMiB.toFixed(1)} MiB after GC (limit +${limitMiB})`;
  }
}

export interface FuzzFlags {
  count: number;
  seed: number;
  /** Run only this input (replay). */
  index: number | null;
  parser: 'wasm' | 'native' | 'both';
  /** Stop after this many failures. */
  maxFailures: number;
  verbose: boolean;
  /**
   * Problems containing any of these texts are not counted (--ignore, CLI
   * only): to look past a known bug while its fix is pending.
   */
  ignore: string[];
}

export function parseFlags(argv: readonly string[], defaults: { count: number }): FuzzFlags {
  const flags: FuzzFlags = {
    count: defaults.count,
    // FUZZ_SEED in the environment (make fuzz FUZZ_SEED=N), else a new one each run.
    seed: Number(process.env['FUZZ_SEED'] ?? (Date.now() ^ (process.pid << 16)) >>> 0) >>> 0,
    index: null,
    parser: 'both',
    maxFailures: 5,
    verbose: false,
    ignore: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    const number = (): number => {
      const n = Number(value);
      if (value === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${arg} needs a number`);
      i++;
      return Math.floor(n);
    };
    switch (arg) {
      case '--count':
        flags.count = number();
        break;
      case '--seed':
        flags.seed = number() >>> 0;
        break;
      case '--index':
        flags.index = number();
        break;
      case '--max-failures':
        flags.maxFailures = Math.max(1, number());
        break;
      case '--parser':
        if (value !== 'wasm' && value !== 'native' && value !== 'both') throw new Error('--parser wasm|native|both');
        flags.parser = value;
        i++;
        break;
      case '--ignore':
        if (value === undefined) throw new Error('--ignore needs a text');
        flags.ignore.push(value);
        i++;
        break;
      case '--verbose':
        flags.verbose = true;
        break;
      default:
        throw new Error(`unknown flag ${arg}`);
    }
  }
  return flags;
}

/** `problems` without those the run was told to ignore. */
export function unignored(problems: string[], ignore: readonly string[]): string[] {
  return ignore.length === 0 ? problems : problems.filter((p) => !ignore.some((text) => p.includes(text)));
}
