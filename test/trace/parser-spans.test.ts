// The wasm build's --trace spans for a chunked body, bytes in, spans out: a
// chunked body is the one place llhttp consumes bytes that reach no
// callback (its size lines), so the trace measures them from the gaps
// between data spans. Every byte of the body must be in exactly one span
// (regression: the last chunk's "0" line was never shown).

import t from 'tap';
import { createParser } from '../../src/http/parser';

interface Span {
  callback: string;
  offset: number;
  length: number;
  value: string | null;
}

function spansOf(input: string): Span[] {
  const spans: Span[] = [];
  const parser = createParser(
    'wasm',
    {
      parserTrace: (callback, offset, length, value) => spans.push({ callback, offset, length, value }),
      onRequestBegin: () => undefined,
      onRequestHead: () => undefined,
      onRequestBody: () => undefined,
      onRequestEnd: () => undefined,
    },
    { maxHeaderSize: 16384 },
  );
  t.equal(parser.execute(Buffer.from(input, 'latin1')), 'paused', 'one whole message');
  return spans;
}

const HEAD = 'POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';

t.test('without trailers: the body is size lines and data, end to end', async (t) => {
  const body = '5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n';
  const spans = spansOf(HEAD + body);
  const complete = spans.find((s) => s.callback === 'headers_complete');
  t.match(complete?.value, /chunked body, keep-alive false/, 'headers complete says keep-alive (Connection: close)');
  const bodySpans = spans.filter((s) => s.callback === 'chunk_line' || s.callback === 'chunk_data');
  t.same(
    bodySpans.map((s) => [s.callback, s.value]),
    [
      ['chunk_line', '5\r\n'],
      ['chunk_data', null],
      ['chunk_line', '\r\n3;ext=1\r\n'],
      ['chunk_data', null],
      ['chunk_line', '\r\n0\r\n\r\n'],
    ],
  );
  let at = HEAD.length;
  for (const span of bodySpans) {
    t.equal(span.offset, at, `${span.callback} starts where the one before ended`);
    at += span.length;
  }
  t.equal(at, HEAD.length + body.length, 'and the last ends with the message');
});

t.test('with trailers: the last size line ends where the trailers begin', async (t) => {
  const spans = spansOf(`${HEAD}5\r\nhello\r\n0\r\nTrailer-X: 1\r\n\r\n`);
  const last = spans.filter((s) => s.callback === 'chunk_line').at(-1);
  t.equal(last?.value, '\r\n0\r\n');
  const trailer = spans.find((s) => s.callback === 'trailer_field');
  t.equal(trailer?.offset, (last?.offset ?? 0) + (last?.length ?? 0), 'the trailer field follows it');
});
