// --trace: every step of every connection's life, for reading how HTTP flows
// from socket to program and back: accept, each read and its bytes, each
// llhttp callback with its offset in the read, each state change and what
// caused it, the dispatch decision, the CGI spawn (and whether fd 1 *is* the
// client socket), the program's exit, each write, the answer, the end. Text
// lines on stderr (--trace), JSON lines (--trace-format json), and live to
// the flow page (--flow), which subscribes. It only observes: nothing in
// porta reads what it records, and with it off each site costs a null check
// (no string is built).

/** The kinds of event, each with its own `data` fields (README, "Tracing"; docs/PROTOCOL.md). */
export type TraceKind =
  | 'accept' // peer, peerPort, localPort, fd
  | 'read' // length, bytes (escaped, cut at --trace-bytes)
  | 'llhttp' // callback, offset (in the read; negative: held from an earlier read), length?, value?
  | 'state' // from, to, cause
  | 'dispatch' // handler ('static' | 'cgi' | 'status' | 'flow' | 'options' | 'error'), then the handler's facts
  | 'spawn' // pid, program, argv, stdout ('socket' | 'pipe'), fdInPorta (socket mode), fdInChild
  | 'exit' // pid, code, signal, ms
  | 'write' // length, head (escaped) when the write starts a response
  | 'answer' // status, bytes, keepAlive, why
  | 'close'; // why

export interface TraceEvent {
  /** Milliseconds since porta started. */
  t: number;
  conn: number;
  kind: TraceKind;
  /** The line --trace prints. */
  text: string;
  data: Record<string, unknown>;
}

/** One connection's trace: null when nothing traces (callers write `trace?.(…)`, so nothing is built). */
export type ConnectionTrace = (kind: TraceKind, text: string, data?: Record<string, unknown>) => void;

export type TraceFormat = 'text' | 'json';

export interface TraceOptions {
  /** Print to stderr (--trace), and how. */
  print: TraceFormat | null;
  /** Bytes of a read or a head shown (--trace-bytes). */
  bytes: number;
}

export class Tracer {
  readonly bytes: number;
  readonly #print: TraceFormat | null;
  readonly #started = performance.now();
  readonly #listeners = new Set<(event: TraceEvent) => void>();
  /**
   * Connections streaming the flow page's events: nothing of theirs is traced
   * while the stream lasts, printed or streamed (each event written to the
   * stream would be a write to trace, and stream, for ever). Their requests
   * before and after it are traced like the rest.
   */
  readonly #muted = new Set<number>();
  #connections = 0;

  constructor(options: TraceOptions) {
    this.#print = options.print;
    this.bytes = options.bytes;
  }

  /** Does anything observe now? (--flow with no page open: no; callers then build nothing.) */
  get active(): boolean {
    return this.#print !== null || this.#listeners.size > 0;
  }

  /** A new connection's trace function, numbered from 1. */
  connection(): { id: number; trace: ConnectionTrace } {
    const id = ++this.#connections;
    return { id, trace: (kind, text, data = {}) => this.#emit(id, kind, text, data) };
  }

  /** Live events (the flow page). Returns the way to stop listening. */
  subscribe(listener: (event: TraceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      // Nothing observes now, so no stream is left to end its mute (no events flow): forget them all.
      if (!this.active) this.#muted.clear();
    };
  }

  #emit(conn: number, kind: TraceKind, text: string, data: Record<string, unknown>): void {
    if (this.#muted.has(conn)) {
      // The stream's answer ends it: what the connection does next is traced again.
      if (kind === 'answer' || kind === 'close') this.#muted.delete(conn);
      if (kind !== 'close') return;
    }
    // This dispatch still goes out: the page learns which lane is a stream's.
    if (kind === 'dispatch' && data['handler'] === 'flow' && data['stream'] === true) this.#muted.add(conn);
    const t = Math.round((performance.now() - this.#started) * 1000) / 1000;
    const event: TraceEvent = { t, conn, kind, text, data };
    if (this.#print === 'text') {
      process.stderr.write(`trace ${t.toFixed(3).padStart(10)} ms  conn ${conn}  ${text}\n`);
    } else if (this.#print === 'json') {
      process.stderr.write(`${JSON.stringify(event)}\n`);
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // An observer's fault is its own: the traced connection goes on.
      }
    }
  }
}

/** Bytes as a short, printable quote: CR, LF and other controls shown, the rest cut at `max`. */
export function quoteBytes(chunk: Buffer, max = 60): string {
  const text = chunk.toString('latin1', 0, Math.min(chunk.length, max)).replace(/[\x00-\x1f\x7f-\xff\\"]/g, (c) => {
    if (c === '\r') return '\\r';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\\' || c === '"') return `\\${c}`;
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `"${text}"${chunk.length > max ? '…' : ''}`;
}
