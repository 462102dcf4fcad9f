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
  /** Inside release(): slots given back meanwhile, still to be handed on. */
  #handingOn = false;
  #toHandOn = 0;

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

  /**
   * A program is done: its slot passes straight to the next waiter. A waiter
   * may give it back within its own start (its client already left): that
   * release is counted here and handed on by this loop, not by a call inside
   * the call. Recursing, 2,000 such waiters in a row ran one stack deep each
   * and an overflow in the middle lost the slot for good.
   */
  release(): void {
    this.#toHandOn++;
    if (this.#handingOn) return;
    this.#handingOn = true;
    try {
      while (this.#toHandOn > 0) {
        this.#toHandOn--;
        const next = this.#queue.shift();
        if (next === undefined) {
          this.running--;
          continue;
        }
        clearTimeout(next.timer);
        next.start();
      }
    } finally {
      this.#handingOn = false;
    }
  }

  #remove(waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter);
    if (i >= 0) this.#queue.splice(i, 1);
    clearTimeout(waiter.timer);
  }
}
