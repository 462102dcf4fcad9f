// porta's live flow page: small helpers, and the details panel that opens
// when an event is clicked (the raw bytes of a read or a head, the header
// fields with the byte offsets llhttp found them at, a CGI program's
// environment, the file descriptors of the socket hand-off). Loaded before
// flow.js, which draws the lanes; both are plain scripts, no build step.
'use strict';

(() => {
  /** An element with attributes and children (strings become text: nothing here is parsed as HTML). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs ?? {})) {
      if (value !== undefined && value !== null) el.setAttribute(name, value);
    }
    for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child);
    return el;
  }

  /**
   * porta's trace quotes bytes (src/trace.ts quoteBytes): "…" with \r \n \t
   * \\ \" and \xNN escapes, and a trailing … when --trace-bytes cut them.
   * Back to the bytes (as latin1 characters).
   */
  function unquote(quoted) {
    let s = String(quoted ?? '');
    const cut = s.endsWith('…');
    if (cut) s = s.slice(0, -1);
    if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
    const text = s.replace(/\\(x[0-9a-fA-F]{2}|[rnt"\\])/g, (_, c) => {
      if (c === 'r') return '\r';
      if (c === 'n') return '\n';
      if (c === 't') return '\t';
      if (c[0] === 'x') return String.fromCharCode(Number.parseInt(c.slice(1), 16));
      return c;
    });
    return { text, cut };
  }

  /** The first line of some quoted bytes, for a card's second line. */
  function firstLine(quoted) {
    return unquote(quoted).text.split('\n')[0].replace(/\r$/, '');
  }

  /** Bytes drawn so a learner sees them all: CR, LF and TAB as small labels, other controls as \xNN. */
  function bytesView(quoted, total) {
    const { text, cut } = unquote(quoted);
    const pre = h('pre', { class: 'bytes', 'data-bytes': '' });
    let run = '';
    const flush = () => {
      if (run !== '') pre.append(run);
      run = '';
    };
    for (const c of text) {
      const code = c.charCodeAt(0);
      if (code >= 0x20 && code < 0x7f) {
        run += c;
        continue;
      }
      flush();
      // Words, not the Unicode control pictures (␍ ␊): few fonts have those.
      const shown = c === '\r' ? 'CR' : c === '\n' ? 'LF' : c === '\t' ? 'TAB' : `\\x${code.toString(16).padStart(2, '0')}`;
      pre.append(h('span', { class: 'ctl', title: ctlName(c) }, shown));
      if (c === '\n') pre.append('\n');
    }
    flush();
    if (cut) pre.append(h('span', { class: 'cut' }, `… (the rest of the ${bytes(total)} not shown: --trace-bytes)`));
    return pre;
  }

  function ctlName(c) {
    if (c === '\r') return 'CR, carriage return (0x0d)';
    if (c === '\n') return 'LF, line feed (0x0a)';
    if (c === '\t') return 'tab (0x09)';
    return `byte 0x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }

  const REASONS = {
    100: 'Continue',
    200: 'OK',
    201: 'Created',
    204: 'No Content',
    206: 'Partial Content',
    301: 'Moved Permanently',
    302: 'Found',
    303: 'See Other',
    304: 'Not Modified',
    307: 'Temporary Redirect',
    308: 'Permanent Redirect',
    400: 'Bad Request',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    411: 'Length Required',
    412: 'Precondition Failed',
    413: 'Content Too Large',
    414: 'URI Too Long',
    416: 'Range Not Satisfiable',
    417: 'Expectation Failed',
    431: 'Request Header Fields Too Large',
    500: 'Internal Server Error',
    501: 'Not Implemented',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
    505: 'HTTP Version Not Supported',
  };
  const statusText = (status) => REASONS[status] ?? '';

  function bytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '? bytes';
    if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  // ---- the details panel --------------------------------------------------------------

  const STAGE_NAMES = {
    sending: '1 · sending',
    processing: '2 · processing',
    response: '3 · response',
    state: 'the connection',
    closed: 'the connection',
  };

  /** What an event means, in plain words. */
  function explain(info, ev) {
    const d = ev.data ?? {};
    if (info.handoff) {
      return 'The program started, and its standard output (file descriptor 1) is the client’s socket itself: the socket was duplicated into the program. What it prints goes straight to the browser; porta neither reads nor writes the socket until the program exits, then closes it, so the end of the connection is the end of the answer. This is the last sentence of the original text: the socket is the CGI program’s standard output.';
    }
    if (info.headers !== undefined) {
      return 'llhttp, the parser inside Node.js, reads the bytes and reports each part of the request: the method, the URL (the request-target), the version and each header field, with where in the read it found them. porta acts once the head is complete.';
    }
    if (info.bodyBytes !== undefined) {
      return 'The body: the bytes after the empty line that ends the head, as many as Content-Length says (or chunk by chunk with Transfer-Encoding: chunked). A CGI program gets them on its stdin.';
    }
    switch (ev.kind) {
      case 'accept':
        return `The client opened a TCP connection and porta’s listener accepted it. The kernel gave the socket file descriptor ${d.fd ?? '?'}; porta numbers the connection ${ev.conn}.`;
      case 'read':
        return 'porta read these bytes from the socket, exactly as the client sent them: the request line, the header fields, each line ending in CR LF, an empty line, then the body if there is one. One read may hold part of a request, or several (pipelining).';
      case 'llhttp':
        if (d.callback === 'error') {
          return 'llhttp could not make an HTTP request of these bytes. porta answers with an error (400 Bad Request here, or 414, 431, 505…) and then closes the connection: after a malformed request nothing that follows can be trusted (RFC 9112 §9.6).';
        }
        if (d.callback === 'message_complete') {
          return 'The request is complete. llhttp stops here on purpose: whatever the client sent after it (a pipelined request) waits until this one is answered, so answers go out in order.';
        }
        return 'A step of llhttp, the parser, in the bytes porta read.';
      case 'dispatch':
        if (d.handler === 'cgi') {
          return `The URL names a program (CGI, RFC 3875): porta will start ${d.program ?? 'it'} with the request in its environment (below) and its body on stdin. Mode ${d.mode}: ${d.mode === 'socket' ? 'the client socket will be the program’s stdout' : 'porta reads the program’s output through a pipe and frames the answer itself'}.`;
        }
        if (d.handler === 'static') return 'The URL names a file: porta answers with it (or 304 if the client’s copy is current).';
        return 'porta decides who answers this request.';
      case 'spawn':
        return 'The program started, its stdout a pipe: porta reads what it prints, turns its header lines into a response head and sends the body, framed, so the connection can stay open.';
      case 'exit':
        return 'The program ended. A program that exits 0 answered; one killed by a signal or exiting early may have left the answer short.';
      case 'write':
        if (!d.head) return 'More bytes of the answer, written to the socket.';
        // Socket mode: porta's header block is left open; the program's own header lines and empty line complete it.
        if (!unquote(d.head).text.endsWith('\r\n\r\n') && !unquote(d.head).cut) {
          return 'porta wrote the start of the answer: the status line and its own header fields, with no empty line after them. The program, whose stdout is this socket, writes its header lines, the empty line that ends the head, and the body.';
        }
        return 'porta wrote the start of the answer: the status line, the header fields and an empty line, and the first body bytes with them when they fit.';
      case 'answer':
        if (String(d.why ?? '').startsWith('cut short')) return `The answer was cut short, and the connection closes: ${d.why}.`;
        return d.keepAlive
          ? 'The answer is complete, and the connection stays open: the client may send its next request on it (keep-alive).'
          : `The answer is complete, and the connection closes: ${d.why}.`;
      case 'state':
        return `The connection’s state machine moved from “${d.from}” to “${d.to}” because: ${d.cause}. Every connection is in exactly one state; the table of which may follow which is TRANSITIONS in src/net/states.ts.`;
      case 'close':
        return 'The socket is closed: this connection’s story ends here.';
      default:
        return ev.text;
    }
  }

  function table(rows, headings) {
    const t = h('table', { class: 'kv' });
    if (headings) t.append(h('thead', {}, h('tr', {}, ...headings.map((x) => h('th', {}, x)))));
    const body = h('tbody');
    for (const row of rows) body.append(h('tr', {}, ...row.map((x) => h('td', {}, x))));
    t.append(body);
    return t;
  }

  function show(value) {
    if (value === null || value === undefined) return '—';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function section(title, ...content) {
    return h('section', { class: 'd-section' }, h('h3', {}, title), ...content);
  }

  function renderDetails(panel, info) {
    const ev = info.events[0];
    const d = ev.data ?? {};
    panel.replaceChildren();
    panel.dataset.kind = ev.kind;
    panel.dataset.conn = String(info.conn);
    panel.append(
      h('h2', {}, info.label),
      h(
        'p',
        { class: 'meta' },
        h('span', { class: `chip stage-${info.stage}` }, STAGE_NAMES[info.stage] ?? info.stage),
        ` connection ${info.conn} · ${ev.kind} · ${ev.t.toFixed(1)} ms after porta started`,
      ),
      h('p', { class: 'explain' }, explain(info, ev)),
    );
    if (info.handoff) {
      panel.append(
        section(
          'The file descriptors',
          h(
            'div',
            { class: 'fd-diagram', 'data-handoff': '' },
            h('span', { class: 'fd' }, `porta: fd ${d.fdInPorta ?? '?'}`),
            h('span', { class: 'fd-arrow' }, '— duplicated →'),
            h('span', { class: 'fd' }, `pid ${d.pid}: fd ${d.fdInChild ?? 1} (stdout)`),
            h('span', { class: 'fd-arrow' }, '→'),
            h('span', { class: 'fd' }, 'the client'),
          ),
        ),
      );
    }
    if (info.headers !== undefined) {
      const line = info.events.find((e) => e.data?.callback === 'headers_complete');
      if (line) panel.append(section('The request line', h('pre', { class: 'bytes' }, line.data.value ?? '')));
      const rows = info.headers.map((f) => [
        f.at === null || f.at === undefined ? '—' : `${f.at}`,
        f.trailer ? `${f.name} (trailer)` : f.name,
        f.value ?? '',
      ]);
      panel.append(
        section(
          `Header fields (${info.headers.length})`,
          rows.length === 0 ? h('p', {}, 'none') : table(rows, ['at byte', 'field', 'value']),
        ),
      );
    } else if (info.bodyBytes !== undefined) {
      const rows = info.events.map((e) => [e.data.callback, show(e.data.offset), show(e.data.length)]);
      panel.append(section(`${bytes(info.bodyBytes)} in ${info.pieces} piece(s)`, table(rows, ['what', 'at byte', 'bytes'])));
    } else if (ev.kind === 'read') {
      panel.append(section(`The bytes (${bytes(d.length)})`, bytesView(d.bytes, d.length)));
    } else if (ev.kind === 'write' && d.head) {
      panel.append(section('The response head, as written', bytesView(d.head, d.length)));
    } else if (ev.kind === 'write' && info.writes !== undefined) {
      const rows = info.events.map((e) => [`${e.t.toFixed(1)} ms`, bytes(e.data.length)]);
      panel.append(section(`${info.writes} writes, ${bytes(info.written)}`, table(rows, ['when', 'bytes'])));
    }
    // A card that gathers events (the head, the body, a run of writes) has its table above.
    const gathers = info.headers !== undefined || info.bodyBytes !== undefined || info.writes !== undefined;
    const fields = Object.entries(d).filter(([k]) => !['env', 'bytes', 'head'].includes(k));
    if (fields.length > 0 && !gathers) panel.append(section('What porta recorded', table(fields.map(([k, v]) => [k, show(v)]))));
    if (Array.isArray(d.env) || (d.env && typeof d.env === 'object')) {
      const pairs = Array.isArray(d.env)
        ? d.env.map((e) => {
            const at = String(e).indexOf('=');
            return at < 0 ? [String(e), ''] : [String(e).slice(0, at), String(e).slice(at + 1)];
          })
        : Object.entries(d.env).map(([k, v]) => [k, String(v)]);
      const envTable = table(pairs, ['variable', 'value']);
      envTable.dataset.env = '';
      panel.append(section(`The program’s environment (${pairs.length} variables, RFC 3875 §4.1)`, envTable));
    }
    const more = info.more ? ` (and ${info.more} more)` : '';
    panel.append(
      h(
        'details',
        { class: 'raw' },
        h('summary', {}, `The trace event${info.events.length > 1 ? `s (${info.events.length}${more})` : ''} as porta sent it`),
        h('pre', {}, info.events.map((e) => JSON.stringify(e)).join('\n')),
      ),
    );
  }

  window.portaFlow = { h, unquote, firstLine, statusText, bytes, renderDetails };
})();
