// The listener: accepts sockets, gives each a Connection, sweeps timeouts, and
// shuts down gracefully. Everything per-request happens in net/connection.ts.

import { createServer, type Server, type Socket } from 'node:net';
import type { Settings } from './config';
import { createHandlers } from './dispatch';
import { Connection, type ConnectionContext } from './net/connection';
import { Log, type LogSink } from './log';
import { createTrace } from './trace';

export interface Porta {
  readonly server: Server;
  readonly settings: Settings;
  readonly connections: ReadonlySet<Connection>;
  /** How CGI programs are started: 'addon' or 'child_process'. */
  readonly cgiLauncher: string;
  /** Who CGI programs run as, in words. */
  readonly cgiUser: string;
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

export function createPorta(settings: Settings, sink?: LogSink): Porta {
  const log = new Log(settings.quiet, sink);
  const handlers = createHandlers(settings);
  for (const note of handlers.notes) log.error(note);
  const connections = new Set<Connection>();
  let draining = false;

  const ctx: ConnectionContext = {
    settings,
    dispatch: handlers.dispatch,
    log,
    trace: createTrace(settings.trace),
    get draining() {
      return draining;
    },
    onClosed(connection) {
      connections.delete(connection);
    },
  };

  // allowHalfOpen: a client's FIN after a complete request does not end our
  // side; the connection answers what it has, then closes (RFC 9112 §9.6).
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket: Socket) => {
    if (connections.size >= settings.limits.maxConnections) {
      socket.destroy();
      return;
    }
    connections.add(new Connection(socket, ctx));
  });
  server.on('error', (err) => log.error(`listener: ${err.message}`));

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
    server,
    settings,
    connections,
    cgiLauncher: handlers.launcher.kind,
    cgiUser: handlers.cgiUser,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(settings.port, settings.host, () => {
          server.off('error', reject);
          const addr = server.address();
          if (addr === null || typeof addr === 'string') return reject(new Error('no address'));
          resolve({ address: addr.address, port: addr.port });
        });
      });
    },
    close() {
      draining = true;
      clearInterval(sweep);
      return new Promise((resolve) => {
        server.close(() => {
          log.flush();
          resolve();
        });
        for (const connection of connections) connection.shutdown();
      });
    },
  };
}
