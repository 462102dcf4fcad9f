// Putting a server on its sockets: an address and port bound, a socket
// inherited (systemd) or passed over IPC (the primary's), and what a failure
// to listen says, in one line a user can act on.

import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';

/** Why listening failed, said in one line (the CLI prints it and exits 1). */
export class ListenError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The backlog porta listens with: the most the kernel allows
 * (net.core.somaxconn; listen(2) caps any larger number to it), so a burst of
 * connections, or a restart's gap, waits rather than being refused. It
 * matters most on a socket a supervisor made: Node calls listen(2) on it
 * again, and with its default (511) would cut the larger backlog asked for
 * (deploy/porta.socket: 4096), which cannot be read back to keep it.
 */
function listenBacklog(): number {
  try {
    const max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'latin1'));
    return Number.isInteger(max) && max > 0 ? max : 511;
  } catch {
    return 511;
  }
}

export function bindFd(server: Server, fd: number): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('EBADF', `inherited socket fd ${fd}: ${err.message}`)));
    server.listen({ fd, backlog: listenBacklog() }, () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string')
        return reject(new ListenError('EBADF', `fd ${fd} is not a TCP socket`));
      resolve({ address: addr.address, port: addr.port });
    });
  });
}

export function bindHandle(server: Server, handle: object): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('EBADF', `a listener from the primary: ${err.message}`)));
    // A TCP handle: listened on exclusively, even in a cluster worker.
    server.listen(handle, listenBacklog(), () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') return reject(new ListenError('EBADF', 'not a TCP listener'));
      resolve({ address: addr.address, port: addr.port });
    });
  });
}

export function bind(
  server: Server,
  host: string,
  port: number,
  exclusive: boolean,
): Promise<{ address: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive, backlog: listenBacklog() }, () => {
      server.off('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no address'));
      resolve({ address: addr.address, port: addr.port });
    });
  });
}

export function urlOf(secure: boolean, address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${secure ? 'https' : 'http'}://${host}:${port}/`;
}

export function listenError(err: NodeJS.ErrnoException, host: string, port: number): ListenError {
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
