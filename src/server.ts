// The listeners: one per address (127.0.0.1 and ::1 by default), plain or
// TLS, each handing its sockets to a Connection; one sweep timer for every
// connection's timeouts; a graceful close. Everything per-request happens in
// net/connection.ts.

import { AddressRanges } from './http/cidr';
import { readFileSync } from 'node:fs';
import { createServer as createPlainServer, type Server, type Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Settings, TlsFiles } from './config';
import { createHandlers, StartupError } from './dispatch';
import { fileSink, Log, type LogSink } from './log';
import { Connection, type ConnectionContext } from './net/connection';
import { acceptInBursts } from './net/accept-burst';
import { bind, bindFd, bindHandle, ListenError, listenError, urlOf } from './net/bind';
import { Handshakes } from './net/handshakes';
import { loadNetAddon } from './net/native';
import { createTlsListener, type ProxiedClient } from './net/tls-listener';
import type { WorkerStatus } from './ops/status';
import { type TraceEvent, Tracer } from './trace';

export interface Listening {
  address: string;
  port: number;
  /** A URL a browser can open (IPv6 in brackets). */
  url: string;
}

/** What one serving process can say about itself (the status page). */
export type ServerStats = WorkerStatus;

export { ListenError };

export interface PortaOptions {
  /** Every worker's stats for the status page; without a primary, this process's alone. */
  allStats?: () => Promise<ServerStats[]>;
  /** Every trace event, as the flow page gets them (tests): tracing is on with it. */
  traceListener?: (event: TraceEvent) => void;
  /** The CLI's serving process: adopt and end what programs leave behind (cgi/orphans.ts). */
  adoptOrphans?: boolean;
}

export interface Porta {
  readonly settings: Settings;
  readonly connections: ReadonlySet<Connection>;
  /** How CGI programs are started: 'addon' or 'child_process'. */
  readonly cgiLauncher: string;
  /** Who CGI programs run as, in words. */
  readonly cgiUser: string;
  /**
   * Bind every address (or take the inherited sockets); the first with port 0
   * picks the port the others share. `exclusive`: the sockets are this
   * process's own, not node:cluster's shared ones (a worker whose primary
   * holds the listeners, see cluster/primary.ts).
   */
  listen(exclusive?: boolean): Promise<Listening[]>;
  /** Listen on sockets another process bound and passed over IPC (libuv TCP handles), in order. */
  listenOn(handles: readonly object[]): Promise<Listening[]>;
  /** The listening sockets' handles, to pass to the primary over IPC. */
  listenerHandles(): object[];
  /**
   * Stop gracefully: accept nothing more, close idle connections now, let
   * answers in flight finish within `graceMs`, then stop programs (TERM, then
   * KILL) and cut what is left. Resolves when every connection is gone.
   */
  close(graceMs?: number): Promise<void>;
  stats(): ServerStats;
  /** SIGUSR1: reopen the log files. */
  reopenLogs(): void;
  /** A second stop signal: every program's group is killed now (the process exits next). */
  killPrograms(): void;
}

export function createPorta(settings: Settings, sink?: LogSink, options: PortaOptions = {}): Porta {
  // JSON trace lines on stderr: the error lines there are JSON objects too, so a tool reads one stream.
  const jsonErrors = settings.trace && settings.traceFormat === 'json' && settings.errorLog === null;
  const log = new Log(
    !settings.quiet && settings.accessLog !== null,
    settings.logFormat,
    sink ?? openLogs(settings),
    jsonErrors,
  );
  const secure = settings.tls !== null;
  const tlsOptions = settings.tls === null ? null : readTls(settings.tls);
  // The status page reads the server's numbers through this (set below).
  let stats: () => ServerStats = () => {
    throw new Error('stats before the server exists');
  };
  // One tracer when anything observes (--trace, --flow, a test); none at all otherwise.
  const observed = settings.trace || settings.flow || options.traceListener !== undefined;
  const tracer = observed
    ? new Tracer({ print: settings.trace ? settings.traceFormat : null, bytes: settings.traceBytes })
    : null;
  if (tracer !== null && options.traceListener !== undefined) tracer.subscribe(options.traceListener);
  const handlers = createHandlers(settings, {
    status: { all: options.allStats ?? (() => Promise.resolve([stats()])) },
    tracer,
    adoptOrphans: options.adoptOrphans === true,
    logError: (message) => log.error(message),
  });
  for (const note of handlers.notes) log.error(note);
  const connections = new Set<Connection>();
  let draining = false;

  const ctx: ConnectionContext = {
    settings,
    dispatch: handlers.dispatch,
    log,
    trace: tracer,
    secure,
    trusted: new AddressRanges(settings.trustProxy),
    get draining() {
      return draining;
    },
    onClosed(connection) {
      connections.delete(connection);
    },
  };

  const counts = { accepted: 0, refused: 0 };
  /** `client`: what a PROXY header read before TLS said (tls-listener.ts); undefined: none was. */
  const accept = (socket: Socket, client?: ProxiedClient): void => {
    if (connections.size >= settings.limits.maxConnections) {
      counts.refused++;
      socket.destroy();
      return;
    }
    counts.accepted++;
    connections.add(new Connection(socket, ctx, client));
  };
  const startedAt = Date.now();

  // TLS handshakes under way (all listeners): they have a deadline, and count against --max-connections.
  const handshakes = new Handshakes(settings.limits.headerTimeoutMs);
  // allowHalfOpen: a client's FIN after a complete request does not end our
  // side; the connection answers what it has, then closes (RFC 9112 §9.6).
  // Several workers on one shared socket take one connection a turn each (see net/accept-burst.ts).
  const acceptMany = settings.workers <= 1 ? (loadNetAddon()?.acceptMany ?? null) : null;
  const makeServer = (): Server => {
    const server = makeListener();
    if (acceptMany !== null) acceptInBursts(server, acceptMany);
    return server;
  };
  const makeListener = (): Server => {
    if (tlsOptions === null) return createPlainServer({ noDelay: true, allowHalfOpen: true }, accept);
    return createTlsListener({
      tls: tlsOptions,
      handshakes,
      full: () => connections.size + handshakes.size >= settings.limits.maxConnections,
      refuse: (raw) => {
        counts.refused++;
        raw.destroy();
      },
      accept,
      proxy: settings.proxyProtocol ? { trusted: ctx.trusted, log: (m) => log.error(m) } : null,
    });
  };
  const servers: Server[] = [];

  // One timer for all connections. A connection notes when the sweep first
  // sees its state, so a state change costs an assignment, not a timer re-arm
  // or a clock read; a timeout fires at most two ticks late, never early.
  const limits = settings.limits;
  const shortest = Math.min(
    limits.headerTimeoutMs,
    limits.bodyTimeoutMs,
    limits.keepAliveTimeoutMs,
    limits.sendTimeoutMs,
    limits.lingerMs,
  );
  const tick = Math.max(20, Math.min(250, Math.floor(shortest / 8)));
  // Answers a second over the last ten seconds, from one sample a second.
  const answered: number[] = [];
  let sampledAt = 0;
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.checkTimeout(now);
    if (now - sampledAt >= 1000) {
      sampledAt = now;
      answered.push(log.answers);
      if (answered.length > 11) answered.shift();
    }
  }, tick);
  sweep.unref();

  stats = () => {
    const states: Record<string, number> = {};
    for (const connection of connections) states[connection.state] = (states[connection.state] ?? 0) + 1;
    const load = handlers.cgi.load;
    const first = answered[0] ?? 0;
    const seconds = Math.max(1, answered.length - 1);
    return {
      pid: process.pid,
      startedAt,
      accepted: counts.accepted,
      refused: counts.refused,
      requests: log.answers,
      rate: answered.length < 2 ? 0 : ((answered[answered.length - 1] ?? 0) - first) / seconds,
      states,
      cgiRunning: load.running,
      cgiQueued: load.queued,
    };
  };

  return {
    settings,
    connections,
    cgiLauncher: handlers.launcher.kind,
    cgiUser: handlers.cgiUser,
    async listenOn(handles) {
      const listening: Listening[] = [];
      for (const [i, handle] of handles.entries()) {
        const server = makeServer();
        const bound = await bindHandle(server, handle);
        server.on('error', (err) => log.error(`listener ${i}: ${err.message}`));
        servers.push(server);
        listening.push({ ...bound, url: urlOf(secure, bound.address, bound.port) });
      }
      return listening;
    },
    listenerHandles() {
      return servers.map((server) => (server as unknown as { _handle: object })._handle);
    },
    async listen(exclusive = false) {
      const listening: Listening[] = [];
      // Sockets a supervisor opened for us (systemd's socket activation): served as they are.
      for (const fd of settings.listenFds) {
        const server = makeServer();
        const bound = await bindFd(server, fd);
        server.on('error', (err) => log.error(`listener fd ${fd}: ${err.message}`));
        servers.push(server);
        listening.push({ ...bound, url: urlOf(secure, bound.address, bound.port) });
      }
      if (settings.listenFds.length > 0) return listening;
      let port = settings.port;
      for (const host of settings.hosts) {
        const server = makeServer();
        try {
          const bound = await bind(server, host, port, exclusive);
          port = bound.port;
          // Errors once listening (EMFILE on accept, say) are logged; a failure to
          // bind is the caller's to say, once.
          server.on('error', (err) => log.error(`listener ${host}: ${err.message}`));
          servers.push(server);
          listening.push({ ...bound, url: urlOf(secure, bound.address, bound.port) });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? '';
          // The default pair: a machine without IPv6 still serves 127.0.0.1.
          const optional = host === '::1' && settings.hosts.length > 1;
          if (optional && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) continue;
          for (const s of servers) s.close();
          throw listenError(err as NodeJS.ErrnoException, host, port);
        }
      }
      return listening;
    },
    close(graceMs = settings.limits.graceMs) {
      draining = true;
      for (const server of servers) server.close();
      handlers.endStreams();
      for (const connection of connections) connection.shutdown();
      return new Promise<void>((resolve) => {
        // Done when no connection is left and every program is reaped: a
        // process that exits with a program still running would leave it
        // behind (its KILL timer lives here).
        const finished = (): boolean => connections.size === 0 && handlers.cgi.active === 0;
        const done = (): void => {
          clearInterval(sweep);
          clearInterval(poll);
          clearTimeout(grace);
          handlers.cgi.endOrphans();
          handlers.close();
          void log.close().then(resolve);
        };
        // The grace is over: programs still running get TERM (then KILL after
        // the kill grace), connections are cut.
        const grace = setTimeout(() => {
          handlers.cgi.stopAll();
          for (const connection of connections) connection.abandon();
        }, graceMs);
        const poll = setInterval(() => {
          if (finished()) done();
        }, 20);
        if (finished()) done();
      });
    },
    stats: () => stats(),
    reopenLogs() {
      log.reopen();
    },
    killPrograms() {
      handlers.cgi.stopAll(true);
      handlers.cgi.endOrphans();
      log.flush();
    },
  };
}

function openLogs(settings: Settings): LogSink {
  try {
    return fileSink(settings.accessLog, settings.errorLog);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StartupError(`cannot open the log ${e.path ?? ''}: ${e.code ?? e.message}`);
  }
}

/**
 * node:tls, loaded only for an HTTPS listener: with it come node:crypto and
 * OpenSSL's start-up, about 1 MiB of every plain worker.
 */
function tls(): typeof import('node:tls') {
  return require('node:tls') as typeof import('node:tls');
}

/**
 * The certificate and key, read and checked now: a missing or unreadable file,
 * or a key that does not fit, is one clear line at start-up. TLS 1.2 and up,
 * ALPN http/1.1 (porta speaks nothing else); TLS 1.3's suites are all AEAD
 * with forward secrecy, and TLS 1.2 is held to the same (TLS12_CIPHERS).
 */

/**
 * TLS 1.2 suites: ECDHE key exchange (forward secrecy) and AEAD only, as
 * Mozilla's "intermediate" profile; no static RSA, no CBC, no SHA-1 MACs.
 * The TLS 1.3 suites (Node's defaults, all of that kind) come first.
 */
const TLS12_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

function readTls(files: TlsFiles): SecureContextOptions & { ALPNProtocols: string[] } {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new StartupError(
        `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  const cert = read('--tls-cert', files.cert);
  const key = read('--tls-key', files.key);
  const options: SecureContextOptions & { ALPNProtocols: string[] } = {
    cert,
    key,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
  };
  if (files.passwordFile !== null) {
    // Python's ssl reads the first line as the password; so does porta.
    options.passphrase = read('--tls-password-file', files.passwordFile).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  try {
    tls().createSecureContext(options);
  } catch (err) {
    throw new StartupError(`the TLS certificate or key cannot be used: ${(err as Error).message}`);
  }
  return options;
}
