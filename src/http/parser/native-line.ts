// Watching the request line for native.ts. Node's binding shows the line only
// at headers-complete, so the adapter reads its end from the bytes itself:
// whether it had a version (HTTP/0.9 without one), and whether a header
// overflow hit the request-target (414) or the fields after it (431).

/** Bytes kept of a request line whose end is not seen yet (" HTTP/1.1\r" fits). */
export const LINE_TAIL = 32;
const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Where, in `chunk`, the current request line's unseen part begins. A line
 * whose start this adapter saw continues at `base` (after the CR/LF llhttp
 * skips before a request). One that began in this read after another
 * message ended (reading ahead) is taken to start after the last empty line
 * before `at`: exact after a bodiless or chunked message, approximate after a
 * Content-Length body. `lineText` is the line seen so far, or null for one
 * that began in this read after another message; `previousTail` holds the
 * last bytes of the previous read.
 */
export function lineStart(
  chunk: Buffer,
  base: number,
  at: number,
  lineText: string | null,
  previousTail: Buffer,
): number {
  if (lineText === null) {
    // The empty line that ended the previous message, maybe begun in the
    // last read (its last 3 bytes are kept): the line starts after it.
    const view = Buffer.concat([previousTail, chunk.subarray(base, at)]);
    const blank = view.lastIndexOf(BLANK_LINE);
    return blank < 0 ? base : base + Math.max(0, blank + BLANK_LINE.length - previousTail.length);
  }
  let start = base;
  if (lineText === '') {
    while (start < at && (chunk[start] === 0x0d || chunk[start] === 0x0a)) start++;
  }
  return start;
}
