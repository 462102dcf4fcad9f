// Data-driven parser tests in llhttp's own style (its test/request/*.md):
// bytes in, event log out, run against BOTH builds (wasm: llhttp 9.3.0 inside
// undici; native: Node's llhttp through _http_common), which must agree.
//
// FIXTURES: test/fixtures/requests/*.md (read from the source tree). Each case:
//
//   ## Heading                         the case's name
//   One line of prose: why the case exists (smuggling cases name the CVE/class).
//   <!-- meta={"finish":true} -->      optional, see META below
//   ```http                            the raw request bytes, see ESCAPING
//   ```
//   ```log                             the expected event log, see LOG
//   ```
//
// ESCAPING (the ```http block):
//   - Every line of the block is terminated with CRLF, the blank line before the
//     closing fence included (so a head ends with the usual empty line).
//   - A line ending in a lone `\` gets no terminator at all: `abc\` as the last
//     line is a body of exactly "abc".
//   - With meta "noCRLF": true, no line gets a terminator: every CR and LF must
//     be written as an escape (bare-LF and bare-CR cases).
//   - Escapes anywhere in a line: `\r` CR, `\n` LF, `\t` HT, `\0` NUL,
//     `\xNN` any byte (two hex digits), `\\` one backslash. Any other `\`
//     sequence is a fixture error. Other characters are their UTF-8 bytes.
//
// META (JSON in an HTML comment, all optional):
//   "maxHeaderSize": n    ParserOptions.maxHeaderSize (default 16384).
//   "finish": true        call finish() after the last byte (the peer closed).
//   "noCRLF": true        see ESCAPING.
//
// LOG (the ```log block), one event a line:
//   begin                                   onRequestBegin
//   head GET /x HTTP/1.1 keepAlive=true upgrade=false [Host: a] [X: b]
//                                           onRequestHead; URL, names and
//                                           values with bytes outside 0x20-0x7e
//                                           (and `\`) written as \xNN (`\\`)
//   body "abc"                              onRequestBody, JSON string of the
//                                           latin1 bytes (one per llhttp body
//                                           span: a chunked body gives one per
//                                           chunk in the whole-input run)
//   end                                     onRequestEnd
//   error HPE_CODE "reason" at=N            execute() returned 'error';
//                                           N = absolute byte index in the input
//                                           (parser.offset + bytes fed before)
//   finish ok | finish HPE_CODE "reason"    the result of finish()
//   A line prefixed `wasm: ` or `native: ` is expected from that build only;
//   used only where llhttp itself differs between the two (none today).
//
// RUNS, for each build and each case:
//   1. whole: the input in one execute(); log === expected, exactly.
//   2. every 2-way split: for every i, execute(input[0,i)) then the rest.
//   3. one byte per execute().
//   In 2 and 3 adjacent body events are concatenated first (reads cut bodies
//   into more events); then the log must equal the expected one, except that
//   `at=` is not compared for HPE_HEADER_OVERFLOW: the overflow is found in a
//   span callback, which llhttp calls at the end of each read, so where it
//   stops depends on where the read ended. The two builds must still agree
//   with each other at every split point, that position included.
//   Error offsets: no error code needs a looser comparison between the builds;
//   every `at=` in the fixtures is what both report (llhttp's error position:
//   for most errors the offending byte, for some the byte after it).
//   The pause protocol (the contract in src/http/parser/types.ts): every
//   message end stops the parser; between it and resume() no event at all is
//   delivered, by either build; after resume() the rest is fed, even empty.
//   execute() returns 'paused' only right after a message end.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createParser, effectiveParserKind } from '../../src/http/parser';
import type { ParserKind, RequestHead } from '../../src/http/parser';

const FIXTURES = resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'requests');
const BUILDS: ParserKind[] = ['wasm', 'native'];

interface Meta {
  maxHeaderSize?: number;
  finish?: boolean;
  noCRLF?: boolean;
}

interface Case {
  file: string;
  name: string;
  line: number;
  prose: string;
  meta: Meta;
  input: Buffer;
  log: string[];
}

// ---- fixture reading --------------------------------------------------------

/** One line of an ```http block to bytes; `open` = it ends in a lone `\` (no terminator). */
function decodeLine(line: string): { bytes: number[]; open: boolean } {
  const bytes: number[] = [];
  let open = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c !== '\\') {
      const cp = line.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
      continue;
    }
    if (i === line.length - 1) {
      open = true;
      break;
    }
    const e = line[++i] as string;
    switch (e) {
      case 'r':
        bytes.push(0x0d);
        break;
      case 'n':
        bytes.push(0x0a);
        break;
      case 't':
        bytes.push(0x09);
        break;
      case '0':
        bytes.push(0x00);
        break;
      case '\\':
        bytes.push(0x5c);
        break;
      case 'x': {
        const hex = line.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`bad \\x escape in ${JSON.stringify(line)}`);
        bytes.push(parseInt(hex, 16));
        i += 2;
        break;
      }
      default:
        throw new Error(`unknown escape \\${e} in ${JSON.stringify(line)}`);
    }
  }
  return { bytes, open };
}

function decodeBlock(lines: string[], noCRLF: boolean): Buffer {
  const out: number[] = [];
  for (const line of lines) {
    const { bytes, open } = decodeLine(line);
    out.push(...bytes);
    if (!open && !noCRLF) out.push(0x0d, 0x0a);
  }
  return Buffer.from(out);
}

function parseFixture(file: string, text: string): Case[] {
  const lines = text.split('\n');
  const cases: Case[] = [];
  let cur: {
    name: string;
    line: number;
    prose: string[];
    meta: Meta;
    http: string[] | null;
    log: string[] | null;
  } | null = null;
  const close = (): void => {
    if (cur === null) return;
    const where = `${file}:${cur.line} "${cur.name}"`;
    if (cur.http === null) throw new Error(`${where}: no \`\`\`http block`);
    if (cur.log === null) throw new Error(`${where}: no \`\`\`log block`);
    if (cur.log.length === 0) throw new Error(`${where}: empty log`);
    if (cur.prose.length === 0) throw new Error(`${where}: no line saying why the case exists`);
    cases.push({
      file,
      name: cur.name,
      line: cur.line,
      prose: cur.prose.join(' '),
      meta: cur.meta,
      input: decodeBlock(cur.http, cur.meta.noCRLF === true),
      log: cur.log,
    });
    cur = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('## ')) {
      close();
      cur = { name: line.slice(3).trim(), line: i + 1, prose: [], meta: {}, http: null, log: null };
      continue;
    }
    if (cur === null) continue; // the file's own introduction
    const fence = /^```(\w+)\s*$/.exec(line);
    if (fence !== null) {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] as string);
      if (i >= lines.length) throw new Error(`${file}:${cur.line}: unclosed \`\`\`${fence[1]} block`);
      if (fence[1] === 'http') cur.http = body;
      else if (fence[1] === 'log') cur.log = body.filter((l) => l.trim() !== '');
      else throw new Error(`${file}:${cur.line}: unknown block \`\`\`${fence[1]}`);
      continue;
    }
    const meta = /^<!--\s*meta=(\{.*\})\s*-->\s*$/.exec(line);
    if (meta !== null) {
      cur.meta = JSON.parse(meta[1] as string) as Meta;
      continue;
    }
    if (line.trim() !== '' && cur.http === null) cur.prose.push(line.trim());
  }
  close();
  return cases;
}

// ---- running ----------------------------------------------------------------

function show(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c > 0x7e) out += '\\x' + c.toString(16).toUpperCase().padStart(2, '0');
    else out += s[i];
  }
  return out;
}

function formatHead(h: RequestHead): string {
  let line = `head ${h.method} ${show(h.url)} HTTP/${h.versionMajor}.${h.versionMinor} keepAlive=${h.keepAlive} upgrade=${h.upgrade}`;
  for (let i = 0; i < h.rawHeaders.length; i += 2) {
    line += ` [${show(h.rawHeaders[i] as string)}: ${show(h.rawHeaders[i + 1] as string)}]`;
  }
  return line;
}

interface Run {
  log: string[];
  /** Broken rules of the pause protocol (see the top of the file). */
  violations: string[];
}

function run(kind: ParserKind, c: Case, chunks: Buffer[]): Run {
  const log: string[] = [];
  const violations: string[] = [];
  let pausePending = false; // a message ended; resume() not called yet
  const event = (e: string): void => {
    if (pausePending) violations.push(`${e.split(' ')[0] as string} delivered before resume()`);
    log.push(e);
  };
  const parser = createParser(
    kind,
    {
      onRequestBegin: () => event('begin'),
      onRequestHead: (h) => event(formatHead(h)),
      onRequestBody: (b) => event('body ' + JSON.stringify(b.toString('latin1'))),
      onRequestEnd: () => {
        event('end');
        pausePending = true;
      },
    },
    { maxHeaderSize: c.meta.maxHeaderSize ?? 16384 },
  );
  try {
    let fed = 0; // absolute index of `rest` in the input
    feeding: for (const chunk of chunks) {
      let rest = chunk;
      // After a pause the rest is fed even when empty: that call delivers what
      // the native build held back or found while reading ahead.
      for (let first = true; first || rest.length > 0 || pausePending; first = false) {
        if (pausePending) {
          pausePending = false; // the response is out: read on
          parser.resume();
        }
        const status = parser.execute(rest);
        if (status === 'ok') {
          if (parser.offset !== rest.length) violations.push(`'ok' with offset ${parser.offset} of ${rest.length}`);
          fed += rest.length;
          break;
        }
        if (status === 'error') {
          const err = parser.error;
          if (err === null) throw new Error("'error' without parser.error");
          log.push(`error ${err.code} ${JSON.stringify(err.reason)} at=${fed + err.offset}`);
          break feeding;
        }
        if (!pausePending || log[log.length - 1] !== 'end') violations.push("'paused' not right after a message end");
        if (parser.offset < 0 || parser.offset > rest.length)
          violations.push(`paused offset ${parser.offset} out of range`);
        fed += parser.offset;
        rest = rest.subarray(parser.offset);
      }
    }
    if (c.meta.finish === true && log.every((l) => !l.startsWith('error '))) {
      const err = parser.finish();
      log.push(err === null ? 'finish ok' : `finish ${err.code} ${JSON.stringify(err.reason)}`);
    }
  } finally {
    parser.destroy();
  }
  return { log, violations };
}

/** Adjacent body events as one; optionally without error positions (see the top). */
function normalise(log: string[], looseOverflow: boolean): string[] {
  const out: string[] = [];
  for (const line of log) {
    const prev = out[out.length - 1];
    if (line.startsWith('body ') && prev?.startsWith('body ')) {
      const joined = (JSON.parse(prev.slice(5)) as string) + (JSON.parse(line.slice(5)) as string);
      out[out.length - 1] = 'body ' + JSON.stringify(joined);
      continue;
    }
    out.push(looseOverflow && line.startsWith('error HPE_HEADER_OVERFLOW ') ? line.replace(/ at=\d+$/, ' at=*') : line);
  }
  return out;
}

function expectedFor(kind: ParserKind, log: string[]): string[] {
  const out: string[] = [];
  for (const line of log) {
    const m = /^(wasm|native): (.*)$/.exec(line);
    if (m === null) out.push(line);
    else if (m[1] === kind) out.push(m[2] as string);
  }
  return out;
}

// ---- the tests --------------------------------------------------------------

t.test('the escaping convention', async (t) => {
  t.same([...decodeBlock(['GET / HTTP/1.1', 'A: b', ''], false)], [...Buffer.from('GET / HTTP/1.1\r\nA: b\r\n\r\n')]);
  t.same([...decodeBlock(['abc\\'], false)], [...Buffer.from('abc')], 'a trailing lone backslash: no terminator');
  t.same([...decodeBlock(['a\\r\\nb\\n', 'c'], true)], [...Buffer.from('a\r\nb\nc')], 'noCRLF joins with nothing');
  t.same([...decodeBlock(['\\0\\x00\\xfF\\t\\\\é'], false)], [0, 0, 0xff, 9, 0x5c, 0xc3, 0xa9, 13, 10]);
  t.same([...decodeBlock(['\\\\\\'], false)], [0x5c], 'an escaped backslash, then the open-line marker');
  t.throws(() => decodeLine('\\q'), /unknown escape/);
  t.throws(() => decodeLine('\\x4'), /bad \\x escape/);
});

t.test('build-specific log lines', async (t) => {
  const log = ['begin', 'wasm: end', 'native: error HPE_X "y" at=1'];
  t.same(expectedFor('wasm', log), ['begin', 'end']);
  t.same(expectedFor('native', log), ['begin', 'error HPE_X "y" at=1']);
  t.same(normalise(['body "a"', 'body "b"', 'end', 'body "c"'], false), ['body "ab"', 'end', 'body "c"']);
  t.same(normalise(['error HPE_HEADER_OVERFLOW "Header overflow" at=7'], true), [
    'error HPE_HEADER_OVERFLOW "Header overflow" at=*',
  ]);
});

t.test('both builds are really under test', async (t) => {
  t.equal(effectiveParserKind('native'), 'native', 'this Node has _http_common.HTTPParser: no silent fallback to wasm');
  t.equal(effectiveParserKind('wasm'), 'wasm');
});

t.test('an empty read is not the end of input, whatever the Buffer behind it', async (t) => {
  // Node's binding runs llhttp_finish() for a null data pointer, and a
  // zero-length Buffer has one once its ArrayBuffer exists (parser/native.ts).
  const empty = Buffer.alloc(0);
  t.equal(empty.buffer.byteLength, 0, 'its ArrayBuffer now exists');
  const input = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
  const c: Case = { file: '-', name: 'empty read', line: 0, prose: '', meta: {}, input, log: [] };
  const want = ['begin', 'head GET /a HTTP/1.1 keepAlive=true upgrade=false [Host: x]', 'end'];
  for (const kind of BUILDS) {
    const r = run(kind, c, [input.subarray(0, 20), empty, input.subarray(20, 50), empty, input.subarray(50)]);
    t.same(r.log.slice(0, 3), want, `${kind}: the first request, read around two empty reads`);
    t.same(r.log.slice(3), [...want.map((l) => l.replace('/a', '/b'))], `${kind}: and the pipelined one`);
    t.same(r.violations, [], `${kind}: the pause protocol kept`);
  }
});

t.test("a chunk larger than any before grows wasm memory: the bytes parsed are still the chunk's", async (t) => {
  // The wasm adapter copies each chunk into llhttp's memory through one view
  // of it (parser/wasm-instance.ts loadInput); a chunk larger than the input
  // area mallocs a bigger one, which can grow the memory and detach the old
  // view. Each size here is new, and each request must arrive intact.
  for (const size of [64 * 1024, 1024 * 1024, 6 * 1024 * 1024]) {
    const body = Buffer.alloc(size, 0x61 + (size % 26));
    const head = Buffer.from(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    const tail = Buffer.from('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    const input = Buffer.concat([head, body, tail]);
    const c: Case = { file: '-', name: 'grow', line: 0, prose: '', meta: {}, input, log: [] };
    for (const kind of BUILDS) {
      const r = run(kind, c, [input]);
      const bodies = r.log.filter((l) => l.startsWith('body ')).map((l) => JSON.parse(l.slice(5)) as string);
      t.equal(bodies.join(''), body.toString('latin1'), `${kind}, ${size} bytes: the body, every byte`);
      t.equal(
        r.log.at(-2),
        'head GET /after HTTP/1.1 keepAlive=true upgrade=false [Host: x]',
        `${kind}: then the next request`,
      );
      t.same(r.violations, [], `${kind}: the pause protocol kept`);
    }
  }
});

const files = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.md'))
  .sort();

t.test('fixture files exist', async (t) => {
  t.ok(files.length > 0, `fixtures in ${FIXTURES}`);
});

for (const file of files) {
  t.test(file, async (t) => {
    const cases = parseFixture(file, readFileSync(join(FIXTURES, file), 'utf8'));
    t.ok(cases.length > 0, 'the file has cases');
    const names = new Set<string>();
    for (const c of cases) {
      t.notOk(names.has(c.name), `case name "${c.name}" is unique`);
      names.add(c.name);
    }
    for (const c of cases) {
      t.test(c.name, async (t) => {
        const whole: Record<string, string[]> = {};
        // Per split point, each build's log with adjacent bodies joined: the two
        // builds must agree on these exactly, overflow positions included.
        const splits: Record<string, string[]> = {};
        for (const kind of BUILDS) {
          const expected = expectedFor(kind, c.log);
          const r = run(kind, c, [c.input]);
          whole[kind] = r.log;
          t.same(r.log, expected, `${kind}: whole input (${file}:${c.line})`);
          t.same(r.violations, [], `${kind}: whole input keeps the pause protocol`);

          const want = normalise(expected, true);
          const logs: string[] = [];
          let bad: { at: number; log: string[]; violations: string[] } | null = null;
          for (let i = 1; i < c.input.length; i++) {
            const s = run(kind, c, [c.input.subarray(0, i), c.input.subarray(i)]);
            logs.push(JSON.stringify(normalise(s.log, false)));
            const got = normalise(s.log, true);
            if (bad === null && (JSON.stringify(got) !== JSON.stringify(want) || s.violations.length > 0)) {
              bad = { at: i, log: got, violations: s.violations };
            }
          }
          splits[kind] = logs;
          t.same(
            bad?.log ?? want,
            want,
            `${kind}: every 2-way split` + (bad === null ? '' : ` (first failure: split at byte ${bad.at})`),
          );
          t.same(bad?.violations ?? [], [], `${kind}: every 2-way split keeps the pause protocol`);

          const bytes: Buffer[] = [];
          for (let i = 0; i < c.input.length; i++) bytes.push(Buffer.from(c.input.subarray(i, i + 1)));
          const one = run(kind, c, bytes);
          t.same(normalise(one.log, true), want, `${kind}: one byte per read`);
          t.same(one.violations, [], `${kind}: one byte per read keeps the pause protocol`);
        }
        if (!c.log.some((l) => /^(wasm|native): /.test(l))) {
          t.same(whole['native'], whole['wasm'], 'native and wasm: identical logs for the whole input');
          const differ = (splits['wasm'] ?? []).findIndex((w, i) => w !== splits['native']?.[i]);
          t.equal(
            differ,
            -1,
            'native and wasm: identical logs at every split point, error positions included' +
              (differ < 0 ? '' : ` (first difference: split at byte ${differ + 1})`),
          );
        }
      });
    }
  });
}
