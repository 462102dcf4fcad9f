// states.ts afterExchange: where a connection goes once its exchange is over,
// and the cause its trace gives, as a table. The end-to-end tests (keepalive,
// faults, framing) show the same outcomes on real sockets; this pins every
// branch, including the ones a socket test reaches only by racing.

import t from 'tap';
import { afterExchange, type EndedExchange, SERVER_STOPPING, TRANSITIONS } from '../../src/net/states';

function ended(fields: Partial<EndedExchange>): EndedExchange {
  return {
    state: 'finished',
    closeAfter: false,
    closeWhy: '',
    abortReason: '',
    cutNeedsReset: false,
    clientGone: false,
    ...fields,
  };
}

const cases: Array<[string, EndedExchange, boolean, boolean, string, string, true?]> = [
  // name, exchange, stopping, unsent → to, cause, and an RST rather than a FIN
  ['keep-alive', ended({}), false, false, 'idle', 'answered: keep-alive, the next request'],
  ['send buffer full', ended({}), false, true, 'draining', 'answered; the client has yet to read it all'],
  ['server stopping', ended({}), true, false, 'closing', SERVER_STOPPING],
  [
    'Connection: close',
    ended({ closeAfter: true, closeWhy: 'the client asked' }),
    true,
    true,
    'closing',
    'the client asked',
  ],
  [
    'cut short, a FIN says so',
    ended({ state: 'aborted', abortReason: 'file read failed', closeAfter: true, closeWhy: 'x' }),
    false,
    false,
    'closing',
    'the answer was cut short (file read failed)',
  ],
  [
    'cut short, only a reset can say so',
    ended({ state: 'aborted', abortReason: 'program died', cutNeedsReset: true }),
    false,
    false,
    'closed',
    'the answer was cut short (program died): a reset says so',
    true,
  ],
  [
    'cut short by the client reset (seen by sendfile): no FIN can follow',
    ended({ state: 'aborted', abortReason: 'the client left (ECONNRESET)', clientGone: true, closeAfter: true }),
    false,
    false,
    'closed',
    'the answer was cut short (the client left (ECONNRESET))',
    true,
  ],
  ['gone', ended({ state: 'gone', closeAfter: true, closeWhy: 'x' }), true, true, 'closed', 'porta closed it at once'],
];

t.test('every outcome and its cause', async (t) => {
  for (const [name, exchange, stopping, unsent, to, cause, reset] of cases) {
    t.strictSame(afterExchange(exchange, stopping, unsent), reset ? { to, cause, reset } : { to, cause }, name);
  }
});

t.test('every outcome is a transition the table allows from responding and from discarding', async (t) => {
  for (const [name, exchange, stopping, unsent] of cases) {
    const { to } = afterExchange(exchange, stopping, unsent);
    t.ok(TRANSITIONS.responding.includes(to), `${name}: responding → ${to}`);
    t.ok(TRANSITIONS.discarding.includes(to), `${name}: discarding → ${to}`);
  }
});

t.test('the keep-alive outcomes allocate nothing: the same object every time', async (t) => {
  t.equal(afterExchange(ended({}), false, false), afterExchange(ended({}), false, false));
  t.equal(afterExchange(ended({}), false, true), afterExchange(ended({}), false, true));
});
