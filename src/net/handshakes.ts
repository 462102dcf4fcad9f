// TLS handshakes under way. Until its handshake completes a connection is
// Node's, not porta's: no Connection, no timeout sweep. A client that sent
// part of a ClientHello and its FIN held its fd in CLOSE-WAIT (the listener
// is allowHalfOpen) for minutes, and nothing in Node ends it, so each TCP
// connection of the TLS listener gets a deadline (--header-timeout) until it
// is secure or has failed; and while it lasts it counts against
// --max-connections as a connection does, for it holds an fd as one does.

import { Socket } from 'node:net';

export class Handshakes {
  readonly #deadlineMs: number;
  /** The raw TCP socket of each handshake under way, and the timer that ends it. */
  readonly #pending = new Map<Socket, NodeJS.Timeout>();

  constructor(deadlineMs: number) {
    this.#deadlineMs = deadlineMs;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Is a handshake (or the PROXY header before it) awaited on `raw`? */
  has(raw: Socket): boolean {
    return this.#pending.has(raw);
  }

  /** The TLS server's 'connection': a handshake begins on `raw`. */
  begin(raw: Socket): void {
    const timer = setTimeout(() => {
      this.#pending.delete(raw);
      raw.destroy();
    }, this.#deadlineMs);
    this.#pending.set(raw, timer);
  }

  /**
   * 'secureConnection' or 'tlsClientError': the handshake is over, either
   * way. The TLS socket wraps the raw one (its `_parent`, as Node's tls sets
   * it); if that ever fails to be found, the entry simply lasts until its
   * deadline, which destroys a socket already gone.
   */
  settled(secure: Socket): void {
    const raw = (secure as { _parent?: unknown })._parent;
    if (!(raw instanceof Socket)) return;
    clearTimeout(this.#pending.get(raw));
    this.#pending.delete(raw);
  }
}
