// At most N programs run at once; a bounded queue waits for a slot, each
// waiter for a bounded time. Past either bound the client is told 503 with
// Retry-After (RFC 9110 §15.6.4), rather than the machine being swamped.

export type Admission = 'now' | 'queued' | 'full';

interface Waiter {
  start: () => void;
  timer: NodeJS.Timeout;
}

export class Slots {
  running = 0;
  readonly #max: number;
  readonly #maxQueued: number;
  readonly #waitMs: number;
  readonly #queue: Waiter[] = [];

  constructor(max: number, maxQueued: number, waitMs: number) {
    this.#max = max;
    this.#maxQueued = maxQueued;
    this.#waitMs = waitMs;
  }

  /**
   * Run `start` now or when a slot frees; `expired` if the wait runs out.
   * Returns a function that withdraws a queued request (client gone).
   */
  acquire(start: () => void, expired: () => void): { admission: Admission; withdraw: () => void } {
    if (this.running < this.#max) {
      this.running++;
      start();
      return { admission: 'now', withdraw: () => undefined };
    }
    if (this.#queue.length >= this.#maxQueued) return { admission: 'full', withdraw: () => undefined };
    const waiter: Waiter = {
      start,
      timer: setTimeout(() => {
        this.#remove(waiter);
        expired();
      }, this.#waitMs),
    };
    this.#queue.push(waiter);
    return { admission: 'queued', withdraw: () => this.#remove(waiter) };
  }

  get queued(): number {
    return this.#queue.length;
  }

  release(): void {
    const next = this.#queue.shift();
    if (next === undefined) {
      this.running--;
      return;
    }
    clearTimeout(next.timer);
    next.start(); // the slot passes straight to the next waiter
  }

  #remove(waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter);
    if (i >= 0) this.#queue.splice(i, 1);
    clearTimeout(waiter.timer);
  }
}
