// The listeners: one per address (127.0.0.1 and ::1 by default), plain or
// TLS, each handing its sockets to a Connection; one sweep timer for every
// connection's timeouts; a graceful close. Everything per-request happens in
// net/connection.ts.

import { readFileSync } from 'node:fs';
import { createServer as createPlainServer, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import type { Settings, TlsFiles } from './config';
import { createHandlers, StartupError } from './dispatch';
import { Log, type LogSink } from './log';
import { Connection, type ConnectionContext } from './net/connection';
import { createTrace } from './trace';

export interface Listening {
  address: string;
  port: number;
  /** A URL a browser can open (IPv6 in brackets). */
  url: string;
}

export interface Porta {
  readonly settings: Settings;
  readonly connections: ReadonlySet<Connection>;
  /** How CGI programs are started: 'addon' or 'child_process'. */
  readonly cgiLauncher: string;
  /** Who CGI programs run as, in words. */
  readonly cgiUser: string;
  /** Bind every address; the first with port 0 picks the port the others share. */
  listen(): Promise<Listening[]>;
  close(): Promise<void>;
}

/** Why listening failed, said in one line (the CLI prints it and exits 1). */
export class ListenError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export function createPorta(settings: Settings, sink?: LogSink): Porta {
  const log = new Log(settings.quiet, sink);
  const secure = settings.tls !== null;
  const tlsOptions = settings.tls === null ? null : readTls(settings.tls);
  const handlers = createHandlers(settings);
  for (const note of handlers.notes) log.error(note);
  const connections = new Set<Connection>();
  let draining = false;

  const ctx: ConnectionContext = {
    settings,
    dispatch: handlers.dispatch,
    log,
    trace: createTrace(settings.trace),
    secure,
    get draining() {
      return draining;
    },
    onClosed(connection) {
      connections.delete(connection);
    },
  };

  const accept = (socket: Socket): void => {
    if (connections.size >= settings.limits.maxConnections) {
      socket.destroy();
      return;
    }
    connections.add(new Connection(socket, ctx));
  };

  // allowHalfOpen: a client's FIN after a complete request does not end our
  // side; the connection answers what it has, then closes (RFC 9112 §9.6).
  const makeServer = (): Server => {
    if (tlsOptions === null) return createPlainServer({ noDelay: true, allowHalfOpen: true }, accept);
    const server = createTlsServer({ ...tlsOptions, noDelay: true, allowHalfOpen: true }, accept);
    // A plaintext request or a failed handshake: that socket is closed, nothing else.
    server.on('tlsClientError', () => undefined);
    return server;
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
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.checkTimeout(now);
  }, tick);
  sweep.unref();

  return {
    settings,
    connections,
    cgiLauncher: handlers.launcher.kind,
    cgiUser: handlers.cgiUser,
    async listen() {
      const listening: Listening[] = [];
      let port = settings.port;
      for (const host of settings.hosts) {
        const server = makeServer();
        try {
          const bound = await bind(server, host, port);
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
    close() {
      draining = true;
      clearInterval(sweep);
      const closing = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const connection of connections) connection.shutdown();
      return Promise.all(closing).then(() => log.flush());
    },
  };
}

function bind(server: Server, host: string, port: number): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no address'));
      resolve({ address: addr.address, port: addr.port });
    });
  });
}

function urlOf(secure: boolean, address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${secure ? 'https' : 'http'}://${host}:${port}/`;
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): ListenError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ListenError(
        err.code,
        `port ${port} is in use; try another number (porta ${port + 1}, or --port ${port + 1})`,
      );
    case 'EACCES':
      return new ListenError(err.code, `port ${port} needs root (or CAP_NET_BIND_SERVICE); try a port above 1023`);
    case 'EADDRNOTAVAIL':
      return new ListenError(err.code, `address ${host} is not one of this machine's (give another with -b/--bind)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(err.code, `address ${host} cannot be resolved (give another with -b/--bind)`);
    default:
      return new ListenError(err.code ?? 'ERROR', `cannot listen on ${host} port ${port}: ${err.message}`);
  }
}

/**
 * The certificate and key, read and checked now: a missing or unreadable file,
 * or a key that does not fit, is one clear line at start-up. TLS 1.2 and up,
 * ALPN http/1.1 (porta speaks nothing else), Node's default cipher list.
 */
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
  };
  if (files.passwordFile !== null) {
    // Python's ssl reads the first line as the password; so does porta.
    options.passphrase = read('--tls-password-file', files.passwordFile).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  try {
    createSecureContext(options);
  } catch (err) {
    throw new StartupError(`the TLS certificate or key cannot be used: ${(err as Error).message}`);
  }
  return options;
}
