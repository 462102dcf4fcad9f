// porta's live flow page: the server's trace events (src/trace.ts), received
// over Server-Sent Events from /.porta/flow/events, each made a row of its
// connection's lane (lanes.js) in the column of its stage from the original
// text: sending (accept, read, llhttp), processing (dispatch, the program's
// start and exit), response (writes, the answer). State changes are thin
// lines between them; a CGI program is a box, its stdout the socket when it
// is. Plain JavaScript, no framework, no build step.
'use strict';

(() => {
  const { h, unquote, firstLine, statusText, bytes, FLOW_PREFIX, MAX_SAMPLES } = window.portaFlow;
  const { lanes, hidden, cardInfo, newLane, reveal, hide, setState, countBytes, newRequest } = window.portaFlow;
  const { currentRequest, requestLine, add, card, relabel, clear } = window.portaFlow;
  const STAGE = {
    accept: 'sending',
    read: 'sending',
    llhttp: 'sending',
    dispatch: 'processing',
    spawn: 'processing',
    exit: 'processing',
    write: 'response',
    answer: 'response',
  };

  const liveEl = document.getElementById('live');
  const droppedEl = document.getElementById('dropped');
  document.getElementById('origin').textContent = location.origin;
  let dropped = 0;

  // ---- events -----------------------------------------------------------------------

  function onEvent(ev) {
    if (hidden.has(ev.conn)) {
      // A connection of this page's goes on with a request of the site's (a browser
      // reuses its idle connections): drawn from that request on, in a new lane.
      if (ev.kind !== 'read' || firstLine(ev.data?.bytes).includes(` ${FLOW_PREFIX}`)) return;
      hidden.delete(ev.conn);
    }
    const lane = lanes.get(ev.conn) ?? newLane(ev);
    if (ev.t - lane.lastT > 1000) {
      add(lane, h('p', { class: 'gap' }, `… ${((ev.t - lane.lastT) / 1000).toFixed(1)} s later`));
    }
    lane.lastT = ev.t;
    const d = ev.data ?? {};
    switch (ev.kind) {
      case 'accept':
        lane.peerEl.textContent = `from ${d.peer} port ${d.peerPort}`;
        add(lane, card(lane, ev, 'sending', 'connection opened', `TCP accepted on port ${d.localPort}`, {}), false);
        return;
      case 'read':
        return onRead(lane, ev, d);
      case 'llhttp':
        return onParser(lane, ev, d);
      case 'state': {
        setState(lane, d.to);
        const el = h(
          'button',
          { type: 'button', class: 'ev state-line', 'data-kind': 'state', 'data-from': d.from, 'data-to': d.to },
          h('span', { class: 'ev-label' }, `${d.from} → ${d.to}`),
          h('span', { class: 'ev-sub' }, d.cause ?? ''),
        );
        cardInfo.set(el, { conn: lane.conn, stage: 'state', label: `state: ${d.from} → ${d.to}`, events: [ev] });
        add(lane, el);
        return;
      }
      case 'dispatch':
        return onDispatch(lane, ev, d);
      case 'spawn':
        return onSpawn(lane, ev, d);
      case 'exit': {
        const how = d.signal ? `killed by ${d.signal}` : `exit status ${d.code}`;
        add(lane, card(lane, ev, 'processing', `program ${d.pid} ended: ${how}`, `after ${d.ms} ms`, {}));
        if (lane.child !== null) {
          lane.child.el.classList.add('ended');
          lane.child.stateEl.textContent = `ended after ${d.ms} ms`;
          lane.child = null;
        }
        return;
      }
      case 'write':
        return onWrite(lane, ev, d);
      case 'answer':
        return onAnswer(lane, ev, d);
      case 'close':
        lane.el.classList.add('closed');
        add(lane, card(lane, ev, 'closed', 'connection closed', d.why ?? '', {}), false);
        return;
      default: {
        const stage = STAGE[ev.kind] ?? 'processing';
        add(lane, card(lane, ev, stage, ev.text, '', {}));
      }
    }
  }

  function onRead(lane, ev, d) {
    lane.bytesIn += d.length ?? 0;
    countBytes(lane);
    const req = currentRequest(lane);
    req.read = true;
    const line = firstLine(d.bytes);
    if (!lane.shown && !req.begun && line.includes(` ${FLOW_PREFIX}`)) return hide(lane);
    add(lane, card(lane, ev, 'sending', `received ${bytes(d.length)}`, line, {}));
  }

  function onParser(lane, ev, d) {
    const cb = d.callback;
    if (cb === 'proxy_header') {
      lane.peerEl.textContent = `from ${d.value} (told by a proxy)`;
      return void add(lane, card(lane, ev, 'sending', 'PROXY header: who the client is', d.value, {}));
    }
    if (cb === 'message_begin') {
      const open = lane.req !== null && !lane.req.answered && !lane.req.begun;
      const req = open ? lane.req : newRequest(lane);
      req.begun = true;
      // No read of its own: its bytes came with the previous request's (pipelining).
      const pipelined = !req.read;
      const sub = pipelined ? 'pipelined: its bytes came in an earlier read' : 'llhttp starts on the request line';
      const extra = pipelined ? { 'data-pipelined': '' } : {};
      req.head = add(lane, card(lane, ev, 'sending', 'llhttp reads the head', sub, { headers: [], pipelined }, extra));
      return;
    }
    const req = currentRequest(lane);
    if (cb === 'url') return headEvent(lane, req, ev, () => requestLine(lane, req, undefined, d.value));
    if (cb === 'header_field' || cb === 'header_value' || cb === 'trailer_field' || cb === 'trailer_value') {
      return headEvent(lane, req, ev, null);
    }
    if (cb === 'headers_complete') {
      const m = /^(\S+) (\S+) (HTTP\/\d\.\d), (.*)$/.exec(d.value ?? '');
      if (m !== null) requestLine(lane, req, m[1], m[2], m[3]);
      if (!lanes.has(lane.conn)) return;
      return headEvent(lane, req, ev, null, m?.[4]);
    }
    if (cb === 'body' || cb === 'chunk_data' || cb === 'chunk_line') {
      if (req.body === null) {
        req.body = add(lane, card(lane, ev, 'sending', 'the body', '', { bodyBytes: 0, pieces: 0 }));
      }
      const info = cardInfo.get(req.body);
      if (cb !== 'chunk_line') {
        info.bodyBytes += d.length ?? 0;
        info.pieces++;
      }
      const chunked = cb === 'body' ? '' : ' (chunked)';
      relabel(req.body, `the body: ${bytes(info.bodyBytes)}${chunked}`, `in ${info.pieces} piece(s)`, ev);
      return;
    }
    if (cb === 'message_complete') {
      req.body = null;
      const at = typeof d.offset === 'number' ? ` at byte ${d.offset}` : '';
      add(lane, card(lane, ev, 'sending', 'the request is complete', `llhttp stops here${at}`, {}));
      return;
    }
    if (cb === 'error') {
      reveal(lane);
      if (req.el.dataset.url === undefined) req.lineEl.textContent = 'not HTTP porta can read';
      req.el.dataset.error = d.code ?? 'error';
      add(lane, card(lane, ev, 'sending', `llhttp cannot parse this: ${d.code}`, d.reason ?? '', {}, { 'data-error': '' }));
      return;
    }
    add(lane, card(lane, ev, 'sending', `llhttp ${cb}`, d.value ?? '', {}));
  }

  /** The head's events gather in one card: the request line, each field with its offsets. */
  function headEvent(lane, req, ev, then, keepAlive) {
    if (req.head === null) req.head = add(lane, card(lane, ev, 'sending', 'llhttp reads the head', '', { headers: [] }));
    const info = cardInfo.get(req.head);
    const d = ev.data;
    if (d.callback.endsWith('_field')) info.headers.push({ name: d.value, at: d.offset, trailer: d.callback[0] === 't' });
    else if (d.callback.endsWith('_value') && info.headers.length > 0) {
      const last = info.headers[info.headers.length - 1];
      last.value = (last.value ?? '') + (d.value ?? '');
      last.valueAt ??= d.offset;
    }
    if (info.headers.length > MAX_SAMPLES) info.headers.splice(MAX_SAMPLES);
    const n = info.headers.length;
    let label = 'llhttp reads the head';
    let sub = `${n} header field${n === 1 ? '' : 's'} so far`;
    if (d.callback === 'headers_complete') {
      // The request line is in the request's own header above: here, what llhttp made of the rest.
      label = `parsed the head: ${n} field${n === 1 ? '' : 's'}`;
      sub = keepAlive ?? d.value ?? '';
      if (info.pipelined) sub = `pipelined (bytes read earlier) · ${sub}`;
    }
    relabel(req.head, label, sub, ev);
    if (then !== null) then();
  }

  function onDispatch(lane, ev, d) {
    reveal(lane);
    const req = currentRequest(lane);
    let label = ev.text;
    if (d.handler === 'cgi') label = `run a program: ${d.script ?? ''}`;
    else if (d.handler === 'static') label = `a file: ${d.file ?? req.el.dataset.url ?? ''}`;
    let sub = '';
    if (d.handler === 'cgi') {
      sub = d.mode === 'socket' ? 'its stdout will be the client socket' : `its stdout is a pipe porta reads`;
    } else if (d.handler !== undefined && d.handler !== 'cgi') sub = ev.text === label ? d.handler : ev.text;
    const extra = { 'data-handler': String(d.handler ?? '') };
    add(lane, card(lane, ev, 'processing', label, sub, {}, extra));
  }

  function onSpawn(lane, ev, d) {
    const req = currentRequest(lane);
    const program = [d.program, ...(d.argv ?? [])].map((p) => String(p).split('/').pop()).join(' ');
    const child = { pid: d.pid };
    child.stateEl = h('span', { class: 'child-state' }, 'running');
    child.el = h(
      'div',
      { class: 'child', 'data-pid': String(d.pid), 'data-stdout': d.stdout ?? '' },
      h('div', { class: 'child-label' }, h('b', {}, `CGI program · pid ${d.pid}`), ` ${program} `, child.stateEl),
    );
    req.el.append(child.el);
    lane.child = child;
    add(lane, card(lane, ev, 'processing', `program started: pid ${d.pid}`, program, {}));
    if (d.stdout === 'socket') {
      lane.programWrites = true;
      countBytes(lane);
      const label = 'the client socket IS its stdout';
      const sub = `fd ${d.fdInPorta ?? '?'} in porta → fd ${d.fdInChild ?? 1} in the program: it writes straight to the client`;
      add(lane, card(lane, ev, 'response', label, sub, { handoff: true }, { 'data-handoff': 'socket' }));
    } else {
      add(lane, card(lane, ev, 'response', 'its stdout is a pipe', 'porta reads it and sends the answer', {}));
    }
  }

  function onWrite(lane, ev, d) {
    lane.bytesOut += d.length ?? 0;
    countBytes(lane);
    const req = lane.req !== null && !lane.req.answered ? lane.req : null;
    const status = /^"?HTTP\/1\.\d (\d{3})([^\\]*)/.exec(d.head ?? '');
    const last = lane.items[lane.items.length - 1];
    const lastInfo = last === undefined ? undefined : cardInfo.get(last);
    if (status === null && lastInfo?.writes !== undefined && last.parentElement !== null) {
      lastInfo.writes++;
      lastInfo.written += d.length ?? 0;
      relabel(last, `sent ${bytes(lastInfo.written)} more`, `in ${lastInfo.writes} writes`, ev);
      return;
    }
    if (status !== null) {
      if (req !== null) setStatus(req, Number(status[1]), status[2].trim());
      const label = `sent the head: ${status[1]}${status[2]}`;
      const sub = `${bytes(d.length)} written${d.length > headLength(d.head) ? ', the start of the body with it' : ''}`;
      add(lane, card(lane, ev, 'response', label, sub, {}, { 'data-status': status[1] }), req !== null);
      return;
    }
    const label = d.sendfile ? `the kernel sent ${bytes(d.length)} of the file` : `sent ${bytes(d.length)} more`;
    const sub = d.sendfile ? 'sendfile: no copy through porta' : 'the body';
    add(lane, card(lane, ev, 'response', label, sub, d.sendfile ? {} : { writes: 1, written: d.length ?? 0 }), req !== null);
  }

  /** How much of a write was the head (a longer write carried body bytes too); unknown when cut. */
  function headLength(quoted) {
    const { text, cut } = unquote(quoted);
    return cut ? Number.POSITIVE_INFINITY : text.length;
  }

  function setStatus(req, status, reason) {
    req.el.dataset.status = String(status);
    req.statusEl.textContent = `${status} ${reason || statusText(status)}`;
    req.statusEl.dataset.class = String(status)[0];
  }

  function onAnswer(lane, ev, d) {
    const req = currentRequest(lane);
    // null: an nph- program wrote its own status line, which porta does not read.
    const known = typeof d.status === 'number';
    if (known) setStatus(req, d.status, '');
    const socket = req.el.querySelector('.child[data-stdout="socket"]') !== null;
    const body = socket ? 'the program wrote the body itself' : `${bytes(d.bytes)} of body`;
    const then = d.keepAlive ? 'the connection stays open (keep-alive)' : `then close: ${d.why}`;
    const extra = { 'data-status': String(d.status), 'data-keep-alive': String(d.keepAlive) };
    const title = known ? `answered ${d.status} ${statusText(d.status)}` : 'answered by the program (its own status line)';
    add(lane, card(lane, ev, 'response', title, `${body}; ${then}`, {}, extra));
    req.answered = true;
    req.el.classList.add('answered');
  }

  // ---- the page ---------------------------------------------------------------------

  document.getElementById('clear').addEventListener('click', clear);

  function live(state, text) {
    liveEl.dataset.live = state;
    liveEl.textContent = text;
  }

  const source = new EventSource(`${FLOW_PREFIX}/events`);
  let streams = 0;
  source.addEventListener('ready', () => {
    // Back after a break: porta may have restarted, numbering connections from 1 again.
    if (++streams > 1) {
      clear();
      hidden.clear();
    }
    live('live', streams > 1 ? 'live (reconnected: earlier lanes cleared)' : 'live');
  });
  source.addEventListener('dropped', (m) => {
    dropped += JSON.parse(m.data).count;
    droppedEl.hidden = false;
    droppedEl.textContent = `This page fell behind and missed ${dropped} events: some lanes are incomplete.`;
  });
  source.addEventListener('message', (m) => {
    try {
      onEvent(JSON.parse(m.data));
    } catch (err) {
      console.warn('porta flow: an event could not be drawn', err, m.data);
    }
  });
  source.addEventListener('error', () => live('down', 'reconnecting…'));
})();
