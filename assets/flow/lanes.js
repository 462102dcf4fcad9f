// porta's live flow page: the lanes. One lane per connection, newest on the
// left, time running down; in it a block per request (several blocks in one
// lane: keep-alive at work), and in each a row ("card") per event, in the
// column of its stage. Everything kept is bounded: MAX_LANES lanes, MAX_ITEMS
// rows in each (the oldest go first), MAX_SAMPLES events behind each row.
// flow.js decides what each trace event becomes; details.js shows a card's
// details when it is clicked.
'use strict';

(() => {
  const { h, bytes, renderDetails } = window.portaFlow;
  const MAX_LANES = 50;
  const MAX_ITEMS = 150;
  const MAX_SAMPLES = 40;
  const MAX_HIDDEN = 1000;
  /** A connection that said nothing yet is shown after this long (it may still turn out to be this page's). */
  const REVEAL_MS = 400;
  const FLOW_PREFIX = '/.porta/flow';
  const STATE_WORDS = {
    idle: 'waiting for the next request',
    readingHead: 'reading the request line and header fields',
    readingBody: 'reading the request body',
    responding: 'answering',
    discarding: 'answered; dropping the rest of the body',
    draining: 'waiting for the client to read the answer',
    handedOff: 'the socket belongs to a CGI program',
    closing: 'FIN sent; waiting for the client to close',
    closed: 'the connection is over',
  };

  const lanesEl = document.getElementById('lanes');
  const detailsEl = document.getElementById('details');
  const emptyEl = document.getElementById('empty');

  /** conn → lane, oldest first (a Map keeps insertion order). */
  const lanes = new Map();
  /** Connections that are this page's own (or another flow page's): never drawn. */
  const hidden = new Set();
  /** card element → what its details show. */
  const cardInfo = new WeakMap();
  let selected = null;

  // ---- lanes ------------------------------------------------------------------------

  function newLane(ev) {
    const lane = {
      conn: ev.conn,
      t0: ev.t,
      lastT: ev.t,
      state: 'idle',
      bytesIn: 0,
      bytesOut: 0,
      requests: 0,
      req: null,
      child: null,
      items: [],
      trimmed: 0,
      shown: false,
      timer: 0,
    };
    lane.stateEl = h('span', { class: 'state-pill', 'data-state': 'idle' }, 'idle');
    lane.wordsEl = h('span', { class: 'state-words' }, STATE_WORDS.idle);
    lane.peerEl = h('span', { class: 'peer' }, ev.kind === 'accept' ? '' : 'opened earlier: its start is not shown');
    lane.inEl = h('span', { class: 'count', 'data-bytes-in': '0' }, '0 B read');
    lane.outEl = h('span', { class: 'count', 'data-bytes-out': '0' }, '0 B written');
    lane.reqEl = h('span', { class: 'count' }, 'no request yet');
    lane.trimEl = h('p', { class: 'trimmed', hidden: '' });
    lane.bodyEl = h('div', { class: 'lane-body' }, lane.trimEl);
    lane.el = h(
      'section',
      { class: 'lane', 'data-conn': String(ev.conn), 'data-state': 'idle', 'aria-label': `connection ${ev.conn}` },
      h(
        'header',
        { class: 'lane-head' },
        h('div', { class: 'lane-title' }, h('b', {}, `connection ${ev.conn}`), lane.peerEl),
        h('div', { class: 'lane-state' }, lane.stateEl, lane.wordsEl),
        h('div', { class: 'lane-counts' }, lane.inEl, lane.outEl, lane.reqEl),
      ),
      h(
        'div',
        { class: 'stage-ruler', 'aria-hidden': 'true' },
        h('span', { class: 'stage-sending' }, 'sending'),
        h('span', { class: 'stage-processing' }, 'processing'),
        h('span', { class: 'stage-response' }, 'response'),
      ),
      lane.bodyEl,
    );
    lane.el.hidden = true;
    lanesEl.prepend(lane.el);
    lanes.set(ev.conn, lane);
    lane.timer = setTimeout(() => reveal(lane), REVEAL_MS);
    if (lanes.size > MAX_LANES) dropLane(lanes.values().next().value);
    return lane;
  }

  function reveal(lane) {
    if (lane.shown || !lanes.has(lane.conn)) return;
    lane.shown = true;
    lane.el.hidden = false;
    emptyEl.hidden = true;
  }

  function dropLane(lane) {
    clearTimeout(lane.timer);
    lane.el.remove();
    lanes.delete(lane.conn);
  }

  /** The flow page's own connection: forget it and ignore the rest of it. */
  function hide(lane) {
    dropLane(lane);
    hidden.add(lane.conn);
    if (hidden.size > MAX_HIDDEN) hidden.delete(hidden.values().next().value);
  }

  function setState(lane, state) {
    lane.state = state;
    lane.el.dataset.state = state;
    lane.stateEl.dataset.state = state;
    lane.stateEl.textContent = state;
    lane.wordsEl.textContent = STATE_WORDS[state] ?? '';
  }

  function countBytes(lane) {
    lane.inEl.dataset.bytesIn = String(lane.bytesIn);
    lane.inEl.textContent = `${bytes(lane.bytesIn)} read`;
    lane.outEl.dataset.bytesOut = String(lane.bytesOut);
    // In socket mode the program writes to the client itself: porta never sees those bytes.
    lane.outEl.textContent = `${bytes(lane.bytesOut)} written${lane.programWrites ? ' + the program’s own' : ''}`;
  }

  function newRequest(lane) {
    lane.requests++;
    lane.el.dataset.requests = String(lane.requests);
    lane.reqEl.textContent =
      lane.requests === 1 ? '1 request' : `${lane.requests} requests on one connection (keep-alive)`;
    const req = { n: lane.requests, begun: false, read: false, answered: false, head: null, body: null };
    req.lineEl = h('span', { class: 'req-line' }, '…');
    req.statusEl = h('span', { class: 'req-status' });
    req.el = h(
      'div',
      { class: 'request', 'data-request': String(req.n) },
      h('div', { class: 'req-head' }, h('span', { class: 'req-n' }, `request ${req.n}`), req.lineEl, req.statusEl),
    );
    lane.bodyEl.append(req.el);
    lane.req = req;
    lane.child = null;
    return req;
  }

  /** The request an event belongs to: the current one, or a new one once the last was answered. */
  function currentRequest(lane) {
    return lane.req !== null && !lane.req.answered ? lane.req : newRequest(lane);
  }

  function requestLine(lane, req, method, url, version) {
    if (url?.startsWith(FLOW_PREFIX)) return hide(lane);
    if (method !== undefined) req.el.dataset.method = method;
    if (url !== undefined) req.el.dataset.url = url;
    req.lineEl.textContent = [req.el.dataset.method, req.el.dataset.url, version].filter(Boolean).join(' ');
    reveal(lane);
  }

  // ---- rows -------------------------------------------------------------------------

  /** Add a row where it belongs: the running program's box, the open request, or the lane itself. */
  function add(lane, el, open = true) {
    let parent = lane.bodyEl;
    if (open && lane.req !== null && !lane.req.answered) parent = lane.child !== null ? lane.child.el : lane.req.el;
    const body = lane.bodyEl;
    const atEnd = body.scrollHeight - body.scrollTop - body.clientHeight < 40;
    parent.append(el);
    lane.items.push(el);
    if (lane.items.length > MAX_ITEMS) trim(lane);
    if (atEnd) requestAnimationFrame(() => body.scrollTo({ top: body.scrollHeight }));
    return el;
  }

  function trim(lane) {
    const oldest = lane.items.shift();
    let parent = oldest.parentElement;
    oldest.remove();
    // A box left with no row in it goes too (a request, a program's box).
    while (parent !== null && parent !== lane.bodyEl && parent.querySelector('.ev') === null) {
      const up = parent.parentElement;
      parent.remove();
      parent = up;
    }
    lane.trimmed++;
    lane.trimEl.hidden = false;
    lane.trimEl.textContent = `${lane.trimmed} earlier events not shown`;
  }

  function card(lane, ev, stage, label, sub, info, extra = {}) {
    const el = h(
      'button',
      { type: 'button', class: `ev stage-${stage}`, 'data-kind': ev.kind, 'data-stage': stage, ...extra },
      h('span', { class: 'ev-label' }, label),
      sub ? h('span', { class: 'ev-sub' }, sub) : null,
      h('time', { class: 'ev-t' }, since(lane, ev.t)),
    );
    cardInfo.set(el, { conn: lane.conn, stage, label, events: [ev], ...info });
    return el;
  }

  function since(lane, t) {
    const ms = t - lane.t0;
    return ms < 1000 ? `+${ms.toFixed(1)} ms` : `+${(ms / 1000).toFixed(2)} s`;
  }

  /** Update a card that gathers several events (the head, the body, a run of writes). */
  function relabel(el, label, sub, ev) {
    el.querySelector('.ev-label').textContent = label;
    const subEl = el.querySelector('.ev-sub');
    if (subEl !== null) subEl.textContent = sub;
    const info = cardInfo.get(el);
    info.label = label;
    // Not the event that made the card (that one is in it already).
    const fresh = info.events[info.events.length - 1] !== ev;
    if (fresh && info.events.length < MAX_SAMPLES) info.events.push(ev);
    else if (fresh) info.more = (info.more ?? 0) + 1;
    if (el === selected) renderDetails(detailsEl, info);
  }

  /** Every lane goes (the clear button; a new stream, perhaps from a restarted porta). */
  function clear() {
    for (const lane of [...lanes.values()]) dropLane(lane);
    emptyEl.hidden = false;
  }

  lanesEl.addEventListener('click', (e) => {
    const el = e.target instanceof Element ? e.target.closest('.ev') : null;
    if (el === null || !cardInfo.has(el)) return;
    selected?.classList.remove('selected');
    selected = el;
    el.classList.add('selected');
    renderDetails(detailsEl, cardInfo.get(el));
  });

  Object.assign(window.portaFlow, {
    FLOW_PREFIX,
    MAX_SAMPLES,
    lanes,
    hidden,
    cardInfo,
    newLane,
    reveal,
    hide,
    setState,
    countBytes,
    newRequest,
    currentRequest,
    requestLine,
    add,
    card,
    relabel,
    clear,
  });
})();
