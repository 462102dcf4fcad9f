// The CGI slots (src/cgi/slots.ts): N at once, a bounded queue, and a slot
// handed straight on. Regression: a waiter whose client had left gave its
// slot back inside its own start, and the hand-on recursed: a long run of
// them overflowed the stack in the middle and the slot was lost for good
// (every later program waited out the queue and got 503).

import t from 'tap';
import { Slots } from '../../src/cgi/slots';

const never = (): void => undefined;

t.test('one slot: the others wait in order, each release starts the next', async (t) => {
  const slots = new Slots(1, 10, 60_000);
  const started: string[] = [];
  t.equal(slots.acquire(() => started.push('a'), never).admission, 'now');
  t.equal(slots.acquire(() => started.push('b'), never).admission, 'queued');
  t.equal(slots.acquire(() => started.push('c'), never).admission, 'queued');
  t.same(started, ['a']);
  slots.release();
  t.same(started, ['a', 'b']);
  slots.release();
  t.same(started, ['a', 'b', 'c']);
  t.equal(slots.running, 1);
  slots.release();
  t.equal(slots.running, 0, 'free once no one waits');
  t.equal(slots.queued, 0);
});

t.test('a full queue says so; a withdrawn waiter never starts', async (t) => {
  const slots = new Slots(1, 1, 60_000);
  const started: string[] = [];
  slots.acquire(() => started.push('a'), never);
  const b = slots.acquire(() => started.push('b'), never);
  t.equal(slots.acquire(() => started.push('c'), never).admission, 'full');
  b.withdraw();
  slots.release();
  t.same(started, ['a']);
  t.equal(slots.running, 0);
});

t.test('100,000 waiters that each give the slot straight back: handed on without recursion', async (t) => {
  const slots = new Slots(1, 200_000, 60_000);
  slots.acquire(never, never);
  let gaveBack = 0;
  for (let i = 0; i < 100_000; i++) {
    slots.acquire(() => {
      gaveBack++;
      slots.release(); // its client left: the run ends inside its start
    }, never);
  }
  let last = false;
  slots.acquire(() => {
    last = true;
  }, never);
  t.doesNotThrow(() => slots.release(), 'no stack overflow');
  t.equal(gaveBack, 100_000, 'every one of them was started');
  t.ok(last, 'and the live waiter behind them too');
  t.equal(slots.running, 1, 'the live one holds the slot');
  t.equal(slots.queued, 0);
  slots.release();
  t.equal(slots.running, 0, 'nothing lost');
  t.equal(slots.acquire(never, never).admission, 'now', 'a new request runs at once');
});
