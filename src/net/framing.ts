// A response's bytes on the socket, in the framing its exchange chose: the
// head held back by sendHead leaves with the first body bytes, a chunk gets
// its size line and CRLF and the end its last chunk (RFC 9112 §7.1). Writes
// only: what to write and when is the exchange's (exchange.ts), which passes
// what it holds; nothing is kept here.

import { type HeadMemo, headAndBody, headBytes } from '../http/head-memo';
import { buildHead, CRLF, type ResponseVersion } from '../http/response';
import type { ConnectionSocket } from './socket';

const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/** A body this small goes out in the same write as its head. */
const SMALL_BODY = 16 * 1024;

/** One piece of a body, after the held-back `head` if it has not gone yet (`memo`: where that head came from). */
export function writeBody(
  socket: ConnectionSocket,
  chunked: boolean,
  head: string | null,
  memo: HeadMemo | null,
  body: Buffer,
): void {
  if (chunked) {
    const size = body.length.toString(16) + CRLF;
    socket.cork();
    socket.write(head === null ? size : head + size, 'latin1');
    socket.write(body);
    socket.write(CRLF, 'latin1');
    socket.uncork();
  } else if (head !== null && body.length <= SMALL_BODY) {
    // One write, one syscall, for a head and a small body: for a fixed head
    // and a cached file, the same Buffer all second long.
    if (memo !== null && memo.head === head) socket.write(headAndBody(memo, body));
    else {
      const bytes = Buffer.from(head, 'latin1');
      socket.write(Buffer.concat([bytes, body], bytes.length + body.length));
    }
  } else if (head !== null) {
    socket.cork();
    socket.write(head, 'latin1');
    socket.write(body);
    socket.uncork();
  } else {
    socket.write(body);
  }
}

/** The end of a response: its last chunk (`chunked`), or a held-back head no body followed. */
export function writeEnd(socket: ConnectionSocket, chunked: boolean, head: string | null, memo: HeadMemo | null): void {
  if (chunked) {
    socket.write(head === null ? LAST_CHUNK : Buffer.concat([Buffer.from(head, 'latin1'), LAST_CHUNK]));
  } else if (head !== null) {
    if (memo !== null && memo.head === head) socket.write(headBytes(memo));
    else socket.write(head, 'latin1');
  }
}

/**
 * porta's part of an answer a CGI program writes the rest of (socket mode):
 * the status line and porta's fields, with no empty line after them, so the
 * program's own header lines follow; the body ends with the connection.
 */
export function openHead(version: ResponseVersion): string {
  return buildHead({ status: 200, fields: [], framing: { kind: 'none' }, connection: 'close', open: true, version });
}
