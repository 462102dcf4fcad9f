// Path safety: resolveRequestPath and DocumentRoot.contains as units, then the same
// attacks over raw sockets against a root that has a secret file beside it.
// Whatever the status, nothing outside the root is ever served.

import t, { type Test } from 'tap';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { type FsPath, RequestPaths, resolveRequestPath, type PathVerdict } from '../../src/http/path';
import { DocumentRoot } from '../../src/http/root';
import { parseResponses, rawRequest, startPorta, tempDir } from '../helpers/porta';

const ROOT = '/srv/www';
const SECRET = 'TOP SECRET: outside the document root\n';

function resolve(path: string, dotfiles = false): PathVerdict {
  return resolveRequestPath(ROOT, path, { dotfiles });
}

function inside(root: string, fsPath: FsPath): boolean {
  const rel = relative(root, typeof fsPath === 'string' ? fsPath : fsPath.toString('latin1'));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

t.test('resolveRequestPath', async (t) => {
  t.test('plain paths map under the root', async (t) => {
    t.same(resolve('/'), { kind: 'ok', segments: [], fsPath: ROOT, trailingSlash: true });
    t.same(resolve('/a/b.txt'), {
      kind: 'ok',
      segments: ['a', 'b.txt'],
      fsPath: join(ROOT, 'a', 'b.txt'),
      trailingSlash: false,
    });
    t.same(resolve('/dir/'), { kind: 'ok', segments: ['dir'], fsPath: join(ROOT, 'dir'), trailingSlash: true });
  });

  t.test('percent-decoding, once', async (t) => {
    const space = resolve('/p%20ath/caf%C3%A9.txt');
    t.equal(space.kind, 'ok');
    if (space.kind === 'ok') t.same(space.segments, ['p ath', 'café.txt']);
    const twice = resolve('/%252e%252e/secret');
    t.equal(twice.kind, 'ok', 'double encoding decodes once: a harmless literal name');
    if (twice.kind === 'ok') {
      t.same(twice.segments, ['%2e%2e', 'secret']);
      t.ok(inside(ROOT, twice.fsPath));
    }
    t.equal(resolve('/%E0%A4%A').kind, 'bad', 'malformed percent-encoding');
    t.equal(resolve('/%zz').kind, 'bad');
    const latin1 = resolve('/caf%E9.txt');
    t.equal(latin1.kind, 'ok', 'a name that is not UTF-8: its bytes');
    if (latin1.kind === 'ok') {
      t.ok(Buffer.isBuffer(latin1.fsPath), 'the file path is bytes');
      t.same(
        [...(latin1.fsPath as Buffer).subarray(-8)],
        [...Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74])],
      );
    }
  });

  t.test('dot segments resolve inside the root, and never climb out of it', async (t) => {
    const ok: Array<[string, string[]]> = [
      ['/a/../b', ['b']],
      ['/a/./b', ['a', 'b']],
      ['/a/%2e/b', ['a', 'b']],
      ['/a/b/%2e%2e/c', ['a', 'c']],
      ['//a///b', ['a', 'b']],
    ];
    for (const [path, segments] of ok) {
      const v = resolve(path);
      t.equal(v.kind, 'ok', path);
      if (v.kind === 'ok') t.same(v.segments, segments, path);
    }
    for (const path of [
      '/..',
      '/../',
      '/../etc/passwd',
      '/a/../../etc/passwd',
      '/%2e%2e/etc/passwd',
      '/%2E%2e/',
      '/%2e%2E/%2e%2e/etc/passwd',
      '/a/%2e%2e/%2e%2e/x',
      '/.%2e/x',
      '/%2e./x',
    ]) {
      t.equal(resolve(path).kind, 'bad', `${path} is refused`);
    }
  });

  t.test('encoded slashes and backslashes, raw backslashes, NUL', async (t) => {
    for (const path of ['/a%2fb', '/..%2fetc%2fpasswd', '/%2F..%2F..%2Fetc', '/a%5cb', '/..%5c..%5cwindows', '/%5C']) {
      const v = resolve(path);
      t.not(v.kind, 'ok', `${path}: ${v.kind}`);
    }
    for (const path of ['/..\\x', '/a\\..\\..\\x', '/%00', '/a%00.txt', '/a.txt%00.html']) {
      const v = resolve(path);
      t.equal(v.kind, 'bad', `${path}: bad`);
    }
  });

  t.test('dotfiles are hidden by default, served when enabled', async (t) => {
    for (const path of ['/.env', '/.git/config', '/dir/.hidden', '/%2eenv', '/.htaccess']) {
      t.equal(resolve(path).kind, 'hidden', path);
      const shown = resolve(path, true);
      t.equal(shown.kind, 'ok', `${path} with dotfiles on`);
    }
    t.equal(resolve('/.well-known/security.txt').kind, 'ok', '.well-known is not a secret (RFC 8615)');
    t.equal(resolve('/a..b/c.d').kind, 'ok', 'dots inside names are fine');
  });

  t.test('targets that are not origin-form paths are bad', async (t) => {
    for (const path of ['', 'x', '*', 'http://x/a', 'a/b']) t.equal(resolve(path).kind, 'bad', JSON.stringify(path));
  });

  t.test('every ok verdict stays under the root (a small fuzz)', async (t) => {
    const pieces = ['..', '.', '%2e%2e', '%2E.', 'a', 'b', '', '%2f', '%5c', '\\', '%00', '%252e', '.x', 'é', '%c3%a9'];
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % pieces.length;
    };
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      const n = 1 + (i % 6);
      const path = '/' + Array.from({ length: n }, () => pieces[next()] ?? '').join('/');
      const v = resolveRequestPath(ROOT, path, { dotfiles: i % 2 === 0 });
      if (v.kind !== 'ok') continue;
      checked++;
      if (!inside(ROOT, v.fsPath)) t.fail(`${path} → ${v.fsPath} is outside`);
      if (v.segments.some((s) => s === '..' || s === '.' || s.includes('/') || s.includes('\\') || s.includes('\0')))
        t.fail(`${path}: segment ${JSON.stringify(v.segments)}`);
    }
    t.ok(checked > 100, `${checked} ok verdicts checked`);
  });
});

t.test('DocumentRoot.contains follows symlinks: the one containment check', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  writeFileSync(join(root, 'sub', 'ok.txt'), 'ok');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'out'));
  symlinkSync('sub/ok.txt', join(root, 'in'));
  symlinkSync('..', join(root, 'up'));
  const realRoot = realpathSync(root);
  const docRoot = new DocumentRoot(root, 0);
  t.equal(docRoot.realRoot, realRoot);
  t.equal(docRoot.contains(join(root, 'sub', 'ok.txt')), true);
  t.equal(docRoot.contains(join(root, 'in')), true, 'a link that stays inside');
  t.equal(docRoot.contains(join(root, 'out')), false, 'a link to a file outside');
  t.equal(docRoot.contains(join(root, 'up', 'secret.txt')), false, 'a link to a folder outside');
  t.equal(docRoot.contains(realRoot), true);
  t.equal(docRoot.contains(realRoot + '-evil'), false, 'a missing path does not resolve: not inside');
  writeFileSync(realRoot + '-evil', 'sibling with a common prefix');
  t.equal(docRoot.contains(realRoot + '-evil'), false, 'a sibling whose name starts with the root is outside');
  t.same(docRoot.lookup(join(root, 'out')), { kind: 'forbidden' }, 'lookup says forbidden for a link out');
  t.equal(docRoot.lookup(join(root, 'in')).kind, 'file');
  t.equal(docRoot.lookup(join(root, 'nope')).kind, 'missing');
  const bytesName = Buffer.concat([Buffer.from(join(root, 'caf')), Buffer.from([0xe9]), Buffer.from('.txt')]);
  writeFileSync(bytesName, 'latin-1 name');
  t.equal(docRoot.lookup(bytesName).kind, 'file', 'a name that is not UTF-8 is looked up by its bytes');
  t.equal(docRoot.contains(bytesName), true);
});

interface Layout {
  port: number;
  dir: string;
}

async function layout(t: Test): Promise<Layout> {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'dir'), { recursive: true });
  mkdirSync(join(root, '.git'));
  mkdirSync(join(root, '.well-known'));
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  writeFileSync(join(dir, 'root-evil.txt'), SECRET);
  writeFileSync(join(root, 'index.html'), '<p>index</p>\n');
  writeFileSync(join(root, 'public.txt'), 'public\n');
  writeFileSync(join(root, '.env'), 'PASSWORD=hunter2\n');
  writeFileSync(join(root, '.git', 'config'), '[core]\n');
  writeFileSync(join(root, 'dir', '.hidden'), 'hidden\n');
  writeFileSync(join(root, 'dir', 'ok.txt'), 'ok\n');
  writeFileSync(join(root, '.well-known', 'security.txt'), 'Contact: mailto:x@example.com\n');
  writeFileSync(join(root, '%2e%2e'), 'a file literally named %2e%2e\n');
  // Symlinks are made here, at test time, never committed.
  symlinkSync(join(dir, 'secret.txt'), join(root, 'link-out.txt'));
  symlinkSync('..', join(root, 'linkdir-out'));
  symlinkSync('/etc', join(root, 'etc-link'));
  symlinkSync('public.txt', join(root, 'link-in.txt'));
  symlinkSync('dir', join(root, 'linkdir-in'));
  const server = await startPorta(t, { root });
  t.teardown(() => server.close());
  return { port: server.port, dir };
}

async function get(port: number, target: string): Promise<{ status: number; body: string }> {
  const { data } = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const [r] = parseResponses(data);
  return { status: r?.status ?? 0, body: r?.body.toString('latin1') ?? '' };
}

t.test('over sockets', async (t) => {
  const { port } = await layout(t);
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'latin1');
  } catch {
    // no /etc/passwd here: the SECRET checks still stand
  }
  const neverOutside = (t: Test, target: string, body: string) => {
    t.notOk(body.includes('TOP SECRET'), `${target}: the outside file is not served`);
    if (passwd !== '') t.notOk(body.includes('root:x:') || body === passwd, `${target}: not /etc/passwd`);
  };

  t.test('traversal attempts are refused', async (t) => {
    const targets = [
      '/../secret.txt',
      '/../../../../etc/passwd',
      '/dir/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2e/secret.txt',
      '/%2e%2E/%2e%2e/etc/passwd',
      '/dir/%2e%2e/%2e%2e/secret.txt',
      '/.%2e/secret.txt',
      '/%2e./secret.txt',
      '/..%2fsecret.txt',
      '/dir%2f..%2f..%2fsecret.txt',
      '/%2F..%2F..%2Fetc%2Fpasswd',
      '/..\\secret.txt',
      '/dir\\..\\..\\secret.txt',
      '/..%5csecret.txt',
      '/%5c..%5csecret.txt',
      '/%00',
      '/public.txt%00.html',
      '/..%00/secret.txt',
      '/%252e%252e/secret.txt',
      '/%252e%252e%252fsecret.txt',
      '/../root-evil.txt',
      '/%2e%2e/root-evil.txt',
      '/dir/..;/..;/secret.txt',
    ];
    for (const target of targets) {
      const { status, body } = await get(port, target);
      t.ok([400, 403, 404].includes(status), `${target} → ${status}`);
      neverOutside(t, target, body);
    }
  });

  t.test('absolute-form targets go through the same checks (RFC 9112 §3.2.2)', async (t) => {
    const good = await get(port, 'http://x/public.txt');
    t.equal(good.status, 200, 'absolute-form is accepted');
    t.equal(good.body, 'public\n');
    for (const target of [
      'http://x/../../etc/passwd',
      'http://x/%2e%2e/secret.txt',
      'http://x/..%2fsecret.txt',
      'http://x/.env',
    ]) {
      const { status, body } = await get(port, target);
      t.ok([400, 403, 404].includes(status), `${target} → ${status}`);
      neverOutside(t, target, body);
      t.notOk(body.includes('hunter2'));
    }
  });

  t.test('a literal name that only looks like an escape is just a name', async (t) => {
    const { status, body } = await get(port, '/%252e%252e');
    t.equal(status, 200);
    t.equal(body, 'a file literally named %2e%2e\n');
  });

  t.test('dotfiles are 404 by default', async (t) => {
    for (const target of ['/.env', '/.git/config', '/.git/', '/.git', '/dir/.hidden', '/%2eenv', '/dir/%2Ehidden']) {
      const { status, body } = await get(port, target);
      t.equal(status, 404, target);
      t.notOk(
        body.includes('hunter2') || body.includes('[core]') || body.includes('hidden\n'),
        `${target}: content not served`,
      );
    }
    t.equal((await get(port, '/.well-known/security.txt')).status, 200, '.well-known is served');
  });

  t.test('symlinks leading outside the root are refused', async (t) => {
    for (const target of [
      '/link-out.txt',
      '/linkdir-out/secret.txt',
      '/linkdir-out/',
      '/etc-link/passwd',
      '/etc-link/',
    ]) {
      const { status, body } = await get(port, target);
      t.ok(status === 403 || status === 404, `${target} → ${status}`);
      neverOutside(t, target, body);
      t.notOk(body.includes('root-evil'), `${target}: no listing of the outside folder`);
    }
  });

  t.test('symlinks inside the root are served', async (t) => {
    const file = await get(port, '/link-in.txt');
    t.equal(file.status, 200);
    t.equal(file.body, 'public\n');
    const dir = await get(port, '/linkdir-in/ok.txt');
    t.equal(dir.status, 200);
    t.equal(dir.body, 'ok\n');
  });

  t.test('the root listing does not leak what is outside', async (t) => {
    const { data } = await rawRequest(port, 'GET /dir/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const html = data.toString('utf8');
    t.ok(html.includes('ok.txt'));
    t.notOk(html.includes('.hidden'), 'dotfiles are not listed');
  });
});

t.test("RequestPaths: remembered answers are resolveRequestPath's, frozen; byte paths never remembered", async (t) => {
  const paths = new RequestPaths('/srv/root', { dotfiles: false });
  const asked = ['/a/b.txt', '/a/../b', '/../x', '/.git/config', '/caf%C3%A9', '/a%2fb', '/', '/x/'];
  for (const path of asked) {
    const first = paths.resolve(path);
    t.same(first, resolveRequestPath('/srv/root', path, { dotfiles: false }), path);
    t.equal(paths.resolve(path), first, `${path}: remembered`);
    t.ok(Object.isFrozen(first));
    if (first.kind === 'ok') t.ok(Object.isFrozen(first.segments));
  }
  const bytes = paths.resolve('/caf%E9.txt');
  t.ok(Buffer.isBuffer(bytes.kind === 'ok' ? bytes.fsPath : null));
  t.not(paths.resolve('/caf%E9.txt'), bytes, 'a byte path is resolved anew');
  // Past the bound the memo starts over; answers stay right.
  let wrong = 0;
  for (let n = 0; n < 3000; n++) {
    const verdict = paths.resolve(`/f${n}`);
    if (verdict.kind !== 'ok' || verdict.fsPath !== `/srv/root/f${n}`) wrong++;
  }
  t.equal(wrong, 0);
});
