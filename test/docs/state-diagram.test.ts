// The state diagram in docs/PROTOCOL.md is generated from the state table the
// code enforces (TRANSITIONS, src/net/states.ts) by scripts/state-diagram.ts.
// These tests fail when the checked-in diagram no longer matches the code, so
// the guide cannot drift from it, and check the generator itself: every state
// and every edge of the table is drawn, and the guide's table of why each
// transition happens covers exactly the table's edges.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { TRANSITIONS } from '../../src/net/states';
import {
  currentBlock,
  diagramBlock,
  expectedBlock,
  noteLines,
  PROTOCOL_DOC,
  parseInitialState,
  parseStateNotes,
  replaceBlock,
  STATES_SOURCE,
  stateDiagram,
} from '../../scripts/state-diagram';

const FIX =
  'The checked-in state diagram in docs/PROTOCOL.md differs from TRANSITIONS in src/net/states.ts. Run `make docs` (node build/scripts/state-diagram.js --write) and commit docs/PROTOCOL.md.';

const doc = readFileSync(PROTOCOL_DOC, 'utf8');
const states = Object.keys(TRANSITIONS);
const edges: Array<[string, string]> = states.flatMap((from) =>
  TRANSITIONS[from as keyof typeof TRANSITIONS].map((to): [string, string] => [from, to]),
);

t.test('the checked-in diagram is what the code gives', async (t) => {
  const checkedIn = currentBlock(doc);
  const expected = expectedBlock();
  if (checkedIn !== expected) t.fail(FIX, { found: checkedIn, wanted: expected });
  else t.pass('docs/PROTOCOL.md is current');
});

t.test('every state and every transition of TRANSITIONS is drawn', async (t) => {
  const lines = currentBlock(doc)
    .split('\n')
    .map((line) => line.trim());
  const missingStates = states.filter(
    (state) => !lines.some((line) => line.startsWith(`${state} `) || line.endsWith(` ${state}`)),
  );
  t.same(missingStates, [], 'every state appears (else: make docs)');
  const missingEdges = edges.filter(([from, to]) => !lines.includes(`${from} --> ${to}`));
  t.same(missingEdges, [], 'every edge appears (else: make docs)');
  const table = new Set(edges.map(([from, to]) => `${from} --> ${to}`));
  const extra = lines.filter((line) => line.includes(' --> ') && !line.includes('[*]') && !table.has(line));
  t.same(extra, [], 'no edge is drawn that the table lacks (else: make docs)');
});

t.test('every state with a meaning in states.ts shows it', async (t) => {
  const notes = parseStateNotes(readFileSync(STATES_SOURCE, 'utf8'));
  const block = currentBlock(doc);
  const missing = Object.entries(notes).flatMap(([state, note]) =>
    noteLines(note)
      .map((line) => `${state} : ${line}`)
      .filter((line) => !block.includes(line)),
  );
  t.same(missing, [], 'every comment of the ConnectionState union is shown (else: make docs)');
  // Every state but the last one carries a comment in the union today.
  t.ok(Object.keys(notes).length >= states.length - 1, 'the comments were found');
});

t.test('the guide explains every transition, and only those', async (t) => {
  // Rows of the "why each transition happens" table: | `from` → `to` | … |
  // `(any)` as `from` stands for every state whose row in TRANSITIONS has `to`.
  const explained = new Set<string>();
  for (const match of doc.matchAll(/^\| `(\(any\)|\w+)` → `(\w+)` \|/gm)) {
    const [, from, to] = match;
    if (from === undefined || to === undefined) continue;
    if (from !== '(any)') {
      explained.add(`${from} → ${to}`);
      continue;
    }
    for (const [f, x] of edges) {
      if (x === to) explained.add(`${f} → ${to}`);
    }
  }
  const wanted = new Set(edges.map(([from, to]) => `${from} → ${to}`));
  t.same(
    [...wanted].filter((edge) => !explained.has(edge)),
    [],
    'every edge of TRANSITIONS has a row in "Why each transition happens" (docs/PROTOCOL.md): add one',
  );
  t.same(
    [...explained].filter((edge) => !wanted.has(edge)),
    [],
    'every row of "Why each transition happens" is an edge of TRANSITIONS: drop the others',
  );
});

t.test('the generator', async (t) => {
  const table = { a: ['b', 'c'], b: ['a'], c: [] };
  t.equal(
    stateDiagram(table, { initial: 'a', notes: { a: 'first: waiting; (x timeout)' } }),
    [
      'stateDiagram-v2',
      '    [*] --> a',
      '    a : a',
      '    a : first',
      '    a : waiting',
      '    a : (x timeout)',
      '    a --> b',
      '    a --> c',
      '    b --> a',
      '    c --> [*]',
      '',
    ].join('\n'),
    'states in table order, notes split where Mermaid would end them, an end for a state nothing follows',
  );
  t.same(noteLines('a request has begun; its head is not complete (head timeout)'), [
    'a request has begun',
    'its head is not complete',
    '(head timeout)',
  ]);
  t.same(
    parseStateNotes(
      "export type ConnectionState =\n  | 'x' // one; two\n  | 'y' // three\n  | 'z';\nconst q = 1; // no",
    ),
    { x: 'one; two', y: 'three' },
    'comments may hold semicolons; the union ends at its last member',
  );
  t.equal(parseInitialState("  #state: ConnectionState = 'idle';"), 'idle');
  t.throws(() => parseInitialState('nothing here'), /connection\.ts/);
  const block = diagramBlock('stateDiagram-v2\n');
  t.equal(replaceBlock(`before\n${block}\nafter\n`, 'NEW'), 'before\nNEW\nafter\n', 'only the block is replaced');
  t.throws(() => currentBlock('no markers'), /state-diagram:begin/);
});
