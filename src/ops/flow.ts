// --flow: the live flow page. porta serves a plain HTML/CSS/JS page at
// /.porta/flow (assets/flow/, no build step, nothing fetched at run time) and
// streams every trace event to it as Server-Sent Events; the page draws one
// swimlane per connection. Loopback clients only, unless --status-allow names
// more (the same rule, and the same list, as the status page).
//
// Two things make a live stream of a server's own events safe:
// - An event stream's own connection is muted while it streams. Writing an
//   SSE message is a socket write, and a traced write is an event, which
//   would be written again, for ever. The stream's request says so in its
//   'dispatch' event (handler 'flow', stream true) before it writes
//   anything; the tracer drops that connection's events until the stream's
//   answer (or the close). Everything else is traced, the page's own files
//   included: the page itself hides lanes whose requests are all its own
//   (under /.porta/flow), and shows a browser's connection again once it
//   carries a request of the site's.
// - A slow reader costs bounded memory. When the exchange says 'full' (the
//   socket's buffer is over its mark) the events for that reader are counted,
//   not queued; once the socket drains the page is told how many it missed.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AddressRanges, LOOPBACK_RANGES } from '../http/cidr';
import type { Exchange } from '../http/exchange';
import type { HeaderList } from '../http/response';
import type { TraceEvent, Tracer } from '../trace';

export const FLOW_PATH = '/.porta/flow';

/** build/src/ops/flow.js → assets/flow at the top of the package (package.json "files" ships it). */
const ASSETS = join(__dirname, '..', '..', '..', 'assets', 'flow');

/** What the page may load, by name under /.porta/flow/ ('' is the page itself). */
const ASSET_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'flow.js': { file: 'flow.js', type: 'text/javascript; charset=utf-8' },
  'details.js': { file: 'details.js', type: 'text/javascript; charset=utf-8' },
  'lanes.js': { file: 'lanes.js', type: 'text/javascript; charset=utf-8' },
  'flow.css': { file: 'flow.css', type: 'text/css; charset=utf-8' },
  'favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** Nothing but porta's own origin: the page runs no inline script and loads nothing from elsewhere. */
const PAGE_HEADERS: HeaderList = [
  ['Cache-Control', 'no-cache'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Content-Security-Policy', "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"],
];

/** SSE comments keep proxies (and their idle timeouts) from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

export function serveFlow(exchange: Exchange, tracer: Tracer, allow: AddressRanges): void {
  const hub = hubFor(tracer);
  const path = exchange.request.path;
  const name = path === FLOW_PATH ? '' : path.slice(FLOW_PATH.length + 1);
  const stream = name === 'events';
  // Listening from here, a stream's dispatch below is traced, and so mutes its connection (Tracer).
  if (stream) hub.listen();
  const what = stream
    ? "the flow page's event stream (its own events are not shown)"
    : `the flow page: ${name || 'the page'}`;
  exchange.trace?.('dispatch', what, { handler: 'flow', stream, file: name });
  const client = exchange.request.client;
  if (!LOOPBACK_RANGES.has(client) && !allow.has(client)) {
    hub.idle();
    return exchange.sendError(403, 'the flow page is not for you');
  }
  const method = exchange.request.method;
  if (method !== 'GET' && method !== 'HEAD') {
    hub.idle();
    return exchange.sendError(405, `${method} is not allowed here`, [['Allow', 'GET, HEAD']]);
  }
  if (stream) return hub.add(exchange);
  const asset = Object.hasOwn(ASSET_FILES, name) ? ASSET_FILES[name] : undefined;
  if (asset === undefined) return exchange.sendError(404, 'the flow page has no such file');
  readAsset(asset.file).then(
    exchange.contain((body: Buffer) => {
      exchange.sendHead(200, [['Content-Type', asset.type], ...PAGE_HEADERS], { kind: 'length', length: body.length });
      exchange.write(body);
      exchange.end();
    }),
    exchange.contain((err: Error) => {
      exchange.logError(`the flow page's ${asset.file} could not be read from ${ASSETS}: ${err.message}`);
      exchange.sendError(500, 'the flow page is missing from this installation');
    }),
  );
}

// Read once, then served from memory: a handful of small files that change only with porta.
const assets = new Map<string, Promise<Buffer>>();

function readAsset(file: string): Promise<Buffer> {
  let body = assets.get(file);
  if (body === undefined) {
    body = readFile(join(ASSETS, file));
    assets.set(file, body);
    // A failed read is not cached: the next request tries again.
    body.catch(() => assets.delete(file));
  }
  return body;
}

// ---- the event stream ---------------------------------------------------------------

/** One page's stream. */
interface Reader {
  exchange: Exchange;
  /** The socket is over its mark: events are counted, not written, until it drains. */
  full: boolean;
  dropped: number;
}

/** One per tracer (one per process): every page's stream. */
class FlowHub {
  readonly #tracer: Tracer;
  readonly #readers = new Set<Reader>();
  #heartbeat: NodeJS.Timeout | null = null;
  /** Subscribed only while a page reads: with none open, nothing is traced (Tracer.active). */
  #unsubscribe: (() => void) | null = null;

  constructor(tracer: Tracer) {
    this.#tracer = tracer;
  }

  add(exchange: Exchange): void {
    const framing = exchange.headOnly ? { kind: 'none' as const } : { kind: 'stream' as const };
    const headers: HeaderList = [
      ['Content-Type', 'text/event-stream; charset=utf-8'],
      ['Cache-Control', 'no-store'],
      ['X-Content-Type-Options', 'nosniff'],
      // nginx would otherwise buffer the stream (proxy_buffering); harmless elsewhere.
      ['X-Accel-Buffering', 'no'],
    ];
    if (exchange.sendHead(200, headers, framing) === 'gone') return this.idle();
    if (exchange.headOnly) {
      exchange.end();
      return this.idle();
    }
    const reader: Reader = { exchange, full: false, dropped: 0 };
    this.#readers.add(reader);
    exchange.onClose(() => this.#remove(reader));
    // A reconnecting page waits `retry` ms; 'ready' tells it (and the tests) that events flow from here on.
    this.#send(reader, Buffer.from('retry: 2000\nevent: ready\ndata: {}\n\n', 'utf8'));
    if (this.#heartbeat === null) {
      this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
      this.#heartbeat.unref();
    }
  }

  endAll(): void {
    for (const reader of [...this.#readers]) {
      this.#remove(reader);
      reader.exchange.end();
    }
  }

  /** Hear every trace event from now on (before a stream's dispatch is traced). */
  listen(): void {
    this.#unsubscribe ??= this.#tracer.subscribe((event) => this.#event(event));
  }

  /** With no page reading, stop listening. */
  idle(): void {
    if (this.#readers.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#heartbeat !== null) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = null;
    }
  }

  #remove(reader: Reader): void {
    this.#readers.delete(reader);
    this.idle();
  }

  #event(event: TraceEvent): void {
    // Runs inside the traced connection's own call (Tracer.#emit): cheap, and never throws at it.
    if (this.#readers.size === 0) return;
    const message = Buffer.from(`data: ${JSON.stringify(event)}\n\n`, 'utf8');
    for (const reader of this.#readers) this.#send(reader, message);
  }

  #beat(): void {
    const comment = Buffer.from(': still here\n\n', 'utf8');
    for (const reader of this.#readers) this.#send(reader, comment);
  }

  /** Write unless the reader is behind; then only count what it misses. */
  #send(reader: Reader, message: Buffer): void {
    if (reader.full) {
      reader.dropped++;
      return;
    }
    const result = reader.exchange.write(message);
    if (result === 'gone') return this.#remove(reader);
    if (result === 'ok') return;
    // 'full': this message is queued (at most one past the socket's mark); the next ones are not.
    reader.full = true;
    reader.exchange.onDrain(() => {
      reader.full = false;
      const missed = reader.dropped;
      reader.dropped = 0;
      if (missed > 0) this.#send(reader, Buffer.from(`event: dropped\ndata: {"count":${missed}}\n\n`, 'utf8'));
    });
  }
}

/** The server is stopping: every page's stream ends now (a page would otherwise hold the drain to its grace). */
export function endFlowStreams(tracer: Tracer): void {
  hubs.get(tracer)?.endAll();
}

const hubs = new WeakMap<Tracer, FlowHub>();

function hubFor(tracer: Tracer): FlowHub {
  let hub = hubs.get(tracer);
  if (hub === undefined) {
    hub = new FlowHub(tracer);
    hubs.set(tracer, hub);
  }
  return hub;
}
