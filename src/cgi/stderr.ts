// A program's stderr in porta's log: line by line, each prefixed with the
// script's name, at most `max` bytes of it (what is past that is counted and
// dropped), a last line without its newline flushed at the end.

import type { StderrSink } from './launcher';

export function stderrLog(label: string, max: number, log: (line: string) => void): StderrSink {
  let bytes = 0;
  let pending = '';
  return {
    data(chunk) {
      const room = max - bytes;
      bytes += chunk.length;
      if (room <= 0) return;
      pending += chunk.subarray(0, room).toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) log(`${label}: ${line}`);
    },
    end() {
      if (pending !== '') log(`${label}: ${pending}`);
      pending = '';
      if (bytes > max) log(`${label}: ${bytes - max} more stderr bytes dropped`);
    },
  };
}
