// A strict reader of what porta sends: the response stream split into
// responses, each checked as RFC 9112 wants it on the wire (status line,
// CRLF-only head, token names, no control bytes in values, Date and Server
// once, one framing) and its body cut by that framing. It never guesses: a
// response that does not follow the rules is an error with its offset, and a
// body the stream ends inside is reported as incomplete, for the caller to
// judge against how the connection ended.

const CRLF = Buffer.from('\r\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.1 ([1-5][0-9][0-9]) ([\x20-\x7e]*)$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ([^\x00-\x08\x0a-\x1f\x7f]*)$/;
const CHUNK_SIZE = /^[0-9a-f]{1,15}$/;
/** porta's heads are a few hundred bytes; a CGI program's fields are bounded by cgiMaxHeaderSize. */
const MAX_HEAD = 64 * 1024;

export type Framing = 'length' | 'chunked' | 'none' | 'close';

export interface WireResponse {
  status: number;
  /** 1xx: an interim response (porta only ever sends 100 Continue). */
  interim: boolean;
  /** Names in lower case, values as sent. */
  fields: Array<[string, string]>;
  framing: Framing;
  /** Content-Length when framing is 'length'. */
  length: number | null;
  /** The body as received (chunked: decoded). */
  body: Buffer;
  /** The whole body arrived (with its last chunk, when chunked). */
  complete: boolean;
  /** Connection: close was said. */
  closes: boolean;
  start: number;
  end: number;
}

export interface WireReading {
  responses: WireResponse[];
  /** The first rule broken, with where; null when the stream is well formed. */
  error: string | null;
}

export function field(response: WireResponse, name: string): string | undefined {
  for (const [n, v] of response.fields) if (n === name) return v;
  return undefined;
}

function count(response: WireResponse, name: string): number {
  let n = 0;
  for (const [f] of response.fields) if (f === name) n++;
  return n;
}

/**
 * Split `data` into responses. `isHead(i)` says whether final response i
 * answers a HEAD (no body follows its head); `closed`: the stream ended, so a
 * body without a length runs to its end.
 */
export function readResponses(data: Buffer, isHead: (index: number) => boolean, closed: boolean): WireReading {
  const responses: WireResponse[] = [];
  let pos = 0;
  let finals = 0;
  const fail = (why: string, at: number): WireReading => ({
    responses,
    error: `${why} at byte ${at}: ${JSON.stringify(data.subarray(at, at + 80).toString('latin1'))}`,
  });
  while (pos < data.length) {
    const headEnd = data.indexOf(CRLF2, pos);
    if (headEnd < 0) {
      if (data.length - pos > MAX_HEAD) return fail('response head over 64 KiB', pos);
      return fail('response head cut off', pos);
    }
    const lines = data.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const statusMatch = STATUS_LINE.exec(lines[0] ?? '');
    if (statusMatch === null) return fail('bad status line', pos);
    const status = Number(statusMatch[1]);
    const fields: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const m = FIELD.exec(line);
      if (m === null) return fail(`bad header line ${JSON.stringify(line.slice(0, 80))}`, pos);
      fields.push([(m[1] as string).toLowerCase(), m[2] as string]);
    }
    const interim = status < 200;
    const response: WireResponse = {
      status,
      interim,
      fields,
      framing: 'none',
      length: null,
      body: Buffer.alloc(0),
      complete: true,
      closes: false,
      start: pos,
      end: headEnd + 4,
    };
    pos = headEnd + 4;
    if (interim) {
      // porta sends one interim response, a bare 100 Continue; a final answer is never 1xx.
      if (status !== 100) return fail(`a ${status} response (1xx as a final answer)`, response.start);
      if (fields.length !== 0) return fail('a 100 Continue with header fields (1xx as a final answer)', response.start);
      responses.push(response);
      continue;
    }
    const index = finals++;
    if (count(response, 'date') !== 1 || count(response, 'server') !== 1) {
      return fail('a final response without exactly one Date and one Server', response.start);
    }
    const connection = fields.filter(([n]) => n === 'connection').map(([, v]) => v.toLowerCase());
    if (connection.length > 1) return fail('two Connection fields', response.start);
    response.closes = connection[0] === 'close';
    const te = fields.filter(([n]) => n === 'transfer-encoding');
    const cl = fields.filter(([n]) => n === 'content-length');
    if (te.length > 0 && cl.length > 0) return fail('both Transfer-Encoding and Content-Length', response.start);
    if (te.length > 1 || cl.length > 1) return fail('a framing field twice', response.start);
    const bodiless = status === 204 || status === 304 || isHead(index);
    if ((status === 204 || status === 304) && te.length > 0)
      return fail(`${status} with Transfer-Encoding`, response.start);
    if (status === 204 && cl.length > 0) return fail('204 with Content-Length', response.start);
    if (cl.length === 1) {
      const value = (cl[0] as [string, string])[1];
      if (!/^[0-9]{1,15}$/.test(value)) return fail(`bad Content-Length ${JSON.stringify(value)}`, response.start);
      response.length = Number(value);
    }
    if (te.length === 1 && (te[0] as [string, string])[1] !== 'chunked')
      return fail('Transfer-Encoding other than chunked', response.start);
    if (bodiless) {
      response.framing = 'none';
    } else if (te.length === 1) {
      response.framing = 'chunked';
      const chunked = readChunked(data, pos);
      if (chunked.error !== null) return fail(chunked.error, chunked.at);
      response.body = chunked.body;
      response.complete = chunked.complete;
      pos = chunked.end;
    } else if (response.length !== null) {
      response.framing = 'length';
      const take = Math.min(response.length, data.length - pos);
      response.body = data.subarray(pos, pos + take);
      response.complete = take === response.length;
      pos += take;
    } else {
      // RFC 9112 §6.3: no framing field, a body to the close. Only an answer
      // that says it closes may do that.
      if (!response.closes) return fail('a body with no length on a persistent connection', response.start);
      response.framing = 'close';
      response.body = data.subarray(pos);
      response.complete = closed;
      pos = data.length;
    }
    response.end = pos;
    responses.push(response);
  }
  return { responses, error: null };
}

function readChunked(
  data: Buffer,
  from: number,
): { body: Buffer; complete: boolean; end: number; error: string | null; at: number } {
  const parts: Buffer[] = [];
  let pos = from;
  const partial = (): { body: Buffer; complete: boolean; end: number; error: null; at: number } => ({
    body: Buffer.concat(parts),
    complete: false,
    end: data.length,
    error: null,
    at: pos,
  });
  for (;;) {
    const lineEnd = data.indexOf(CRLF, pos);
    if (lineEnd < 0) {
      // The stream ended inside a size line: fine if what is there could start one.
      if (/^[0-9a-f]{0,15}\r?$/.test(data.subarray(pos).toString('latin1'))) return partial();
      return { body: Buffer.alloc(0), complete: false, end: pos, error: 'bad chunk size line', at: pos };
    }
    const sizeText = data.subarray(pos, lineEnd).toString('latin1');
    if (!CHUNK_SIZE.test(sizeText)) {
      return { body: Buffer.alloc(0), complete: false, end: pos, error: 'bad chunk size line', at: pos };
    }
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    if (size === 0) {
      // porta sends no trailers: the last chunk is "0\r\n\r\n".
      if (data.length - pos < 2) return partial();
      if (data[pos] !== 13 || data[pos + 1] !== 10) {
        return { body: Buffer.alloc(0), complete: false, end: pos, error: 'trailer after the last chunk', at: pos };
      }
      return { body: Buffer.concat(parts), complete: true, end: pos + 2, error: null, at: pos };
    }
    if (data.length - pos < size) {
      parts.push(data.subarray(pos));
      pos = data.length;
      return partial();
    }
    parts.push(data.subarray(pos, pos + size));
    pos += size;
    if (data.length - pos < 2) {
      if (data.length === pos || data[pos] === 13) return partial();
    }
    if (data[pos] !== 13 || data[pos + 1] !== 10) {
      return { body: Buffer.alloc(0), complete: false, end: pos, error: 'chunk data not followed by CRLF', at: pos };
    }
    pos += 2;
  }
}

/** Bytes as a JSON string (latin1), for printing an input so it can be replayed. */
export function bytesJson(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('latin1'));
}
