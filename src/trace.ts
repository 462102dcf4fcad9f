// --trace: one line on stderr for each step of a connection's life (state
// changes, parser events, how each request was answered), for reading how
// HTTP flows from socket to handler and back. It only observes: nothing in
// porta reads what it writes, and with tracing off it costs a null check.

export type Trace = (connection: number, event: string) => void;

export function createTrace(enabled: boolean): Trace | null {
  if (!enabled) return null;
  const started = performance.now();
  return (connection, event) => {
    const ms = (performance.now() - started).toFixed(3).padStart(10);
    process.stderr.write(`trace ${ms} ms  conn ${connection}  ${event}\n`);
  };
}

/** Bytes as a short, printable quote: CR and LF shown, the rest cut. */
export function quoteBytes(chunk: Buffer, max = 60): string {
  const text = chunk.toString('latin1', 0, Math.min(chunk.length, max)).replace(/\r/g, '\\r').replace(/\n/g, '\\n');
  return `"${text}"${chunk.length > max ? '…' : ''}`;
}
