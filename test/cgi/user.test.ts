// Who CGI programs run as: never root by accident. As root (CI runs as root),
// programs run as nobody, or as --cgi-user; root only when named. As any
// other user, programs run as that user. Both branches are asserted: which
// one runs depends on who runs the tests, and the test says which.

import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { chooseCgiUser } from '../../src/cgi/user';
import { getOnce, startPorta, tempDir } from '../helpers/porta';

const ID_SCRIPT = '#!/bin/sh\nprintf \'Content-Type: text/plain\\n\\n%s %s\\n\' "$(id -u)" "$(id -G)"\n';
const isRoot = process.geteuid?.() === 0;

function nobodyIds(): [number, number] | null {
  const choice = chooseCgiUser(null, () => null);
  return choice.kind === 'switch' ? [choice.user.uid, choice.user.gid] : null;
}

t.test(
  `programs run as ${isRoot ? 'nobody (the tests run as root)' : "porta's own user (the tests do not run as root)"}`,
  async (t) => {
    const { dir, remove } = tempDir();
    t.teardown(remove);
    mkdirSync(join(dir, 'cgi-bin'));
    writeFileSync(join(dir, 'cgi-bin', 'id.sh'), ID_SCRIPT);
    chmodSync(join(dir, 'cgi-bin', 'id.sh'), 0o755);
    for (const cgiSpawn of ['auto', 'child_process'] as const) {
      for (const cgiStdout of ['socket', 'pipe'] as const) {
        const s = await startPorta(t, { root: dir, cgiSpawn, cgiStdout });
        const r = await getOnce(s.port, '/cgi-bin/id.sh');
        const [uid, groups] = (r?.body.toString().trim().split(/\n/).pop() ?? '').split(' ', 2);
        if (isRoot) {
          const ids = nobodyIds();
          t.not(ids, null, 'nobody exists here');
          t.equal(s.porta.cgiUser, 'nobody', 'the banner says nobody');
          t.equal(uid, String(ids?.[0]), `${cgiSpawn} launcher, ${cgiStdout} mode: nobody's uid`);
          t.equal(groups, String(ids?.[1]), "and nobody's group alone: root's groups are dropped");
        } else {
          t.equal(uid, String(process.geteuid?.()), `${cgiSpawn} launcher, ${cgiStdout} mode: porta's own uid`);
          t.match(s.porta.cgiUser, new RegExp(`^${userInfo().username} `));
        }
        await s.close();
      }
    }
  },
);

t.test('--cgi-user root must be named; an unknown user is refused at start', async (t) => {
  if (isRoot) {
    t.same(
      chooseCgiUser('root', () => null),
      { kind: 'same', name: 'root', why: '--cgi-user root' },
    );
    t.same(chooseCgiUser('no-such-user-here', () => null).kind, 'error');
    t.same(
      chooseCgiUser('1234:5678', () => null),
      { kind: 'switch', user: { name: '1234:5678', uid: 1234, gid: 5678 } },
    );
  } else {
    t.equal(chooseCgiUser('nobody', () => null).kind, 'error', 'switching needs root');
    t.equal(chooseCgiUser(null, () => null).kind, 'same');
  }
});
