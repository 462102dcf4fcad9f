// Which URLs run programs: the CGI folders (both defaults, nested, custom),
// --cgi-ext anywhere under the root, interpreters by extension, and what is
// never run. Raw bytes over real sockets.

import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { getOnce, startPorta, tempDir } from '../helpers/porta';

const SCRIPT = '#!/bin/sh\nprintf \'Content-Type: text/plain\\r\\n\\r\\nran %s\\n\' "$SCRIPT_NAME"\n';

function write(path: string, body: string, executable: boolean): void {
  writeFileSync(path, body);
  chmodSync(path, executable ? 0o755 : 0o644);
}

t.test('CGI folders, --cgi-ext and interpreters by extension', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  for (const folder of ['cgi-bin', 'htbin', 'scripts', 'pages', 'pages/deep'])
    mkdirSync(join(dir, folder), { recursive: true });
  write(join(dir, 'htbin', 'run.sh'), SCRIPT, true);
  write(join(dir, 'scripts', 'run.sh'), SCRIPT, true);
  write(join(dir, 'pages', 'deep', 'page.cgi'), SCRIPT, true);
  write(join(dir, 'pages', 'plain.sh'), SCRIPT, true); // .sh is not in --cgi-ext: a file
  write(join(dir, 'cgi-bin', 'noexec.sh'), SCRIPT, false); // not executable: 403, interpreter or not
  write(join(dir, 'cgi-bin', 'noexec.bin'), SCRIPT, false); // no interpreter, not executable: 403

  const defaults = await startPorta(t, { root: dir, cgiStdout: 'pipe' });
  t.teardown(() => defaults.close());
  const htbin = await getOnce(defaults.port, '/htbin/run.sh');
  t.equal(htbin?.status, 200, '/htbin is a CGI folder by default, as in Python');
  t.equal(htbin?.body.toString(), 'ran /htbin/run.sh\n');
  t.equal(
    (await getOnce(defaults.port, '/cgi-bin/noexec.sh'))?.status,
    403,
    'a .sh without +x is not run, though .sh has a default interpreter (Python and Apache answer 403 too)',
  );
  t.equal((await getOnce(defaults.port, '/cgi-bin/noexec.bin'))?.status, 403, 'no interpreter and no +x: 403');
  const notCgi = await getOnce(defaults.port, '/scripts/run.sh');
  t.equal(notCgi?.status, 200);
  t.equal(notCgi?.body.toString(), SCRIPT, 'outside the CGI folders a script is a file');
  t.equal(
    (await getOnce(defaults.port, '/pages/deep/page.cgi'))?.body.toString(),
    SCRIPT,
    'without --cgi-ext a .cgi is a file',
  );

  const custom = await startPorta(t, { root: dir, cgiStdout: 'pipe', cgiDirs: ['/scripts'], cgiExtensions: ['.cgi'] });
  t.teardown(() => custom.close());
  t.equal(
    (await getOnce(custom.port, '/scripts/run.sh'))?.body.toString(),
    'ran /scripts/run.sh\n',
    '--cgi-dir makes a folder run',
  );
  t.equal((await getOnce(custom.port, '/htbin/run.sh'))?.body.toString(), SCRIPT, '--cgi-dir replaces the defaults');
  const anywhere = await getOnce(custom.port, '/pages/deep/page.cgi/more?x=1');
  t.equal(anywhere?.status, 200, '--cgi-ext runs a file anywhere under the root');
  t.equal(anywhere?.body.toString(), 'ran /pages/deep/page.cgi\n', 'and the rest of the path is PATH_INFO');
  t.equal((await getOnce(custom.port, '/pages/plain.sh'))?.body.toString(), SCRIPT, 'other extensions stay files');
});

t.test('an extension mapped with --cgi-interpreter runs without +x; the default map does not', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'));
  write(join(dir, 'cgi-bin', 'plain.sh'), SCRIPT, false);
  write(join(dir, 'cgi-bin', 'plain.bin'), SCRIPT, false);
  const mapped = await startPorta(t, {
    root: dir,
    cgiStdout: 'pipe',
    cgiInterpreters: { '.sh': '/bin/sh' },
    cgiExplicitInterpreters: ['.sh'],
  });
  t.teardown(() => mapped.close());
  const r = await getOnce(mapped.port, '/cgi-bin/plain.sh');
  t.equal(r?.status, 200, '--cgi-interpreter .sh=/bin/sh: the user asked for it');
  t.equal(r?.body.toString(), 'ran /cgi-bin/plain.sh\n');
  t.equal((await getOnce(mapped.port, '/cgi-bin/plain.bin'))?.status, 403, 'other files still need +x');
});

t.test('a script’s own #! line wins over its extension’s default interpreter (not for .py)', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'));
  // A bash-only construct: dash (sh here) fails on it (regression: every .sh ran under sh).
  write(
    join(dir, 'cgi-bin', 'bashism.sh'),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${...}, not a template
    '#!/bin/bash\narr=(one two)\nprintf \'Content-Type: text/plain\\r\\n\\r\\nshell %s %s\\n\' "${arr[1]}" "$BASH_VERSION"\n',
    true,
  );
  // No #! line: the default for .sh (sh) still runs it.
  write(join(dir, 'cgi-bin', 'bare.sh'), "printf 'Content-Type: text/plain\\r\\n\\r\\nbare\\n'\n", true);
  // An interpreter that does not exist: the script must not run under sh instead.
  write(join(dir, 'cgi-bin', 'missing.sh'), "#!/nonexistent/interpreter\nprintf 'ran anyway'\n", true);
  // .py keeps Python's rule: the system python whatever the #! line says.
  write(
    join(dir, 'cgi-bin', 'any.py'),
    "#!/nonexistent/python\nimport sys\nsys.stdout.write('Content-Type: text/plain\\r\\n\\r\\npy ok\\n')\n",
    true,
  );
  const server = await startPorta(t, { root: dir, cgiStdout: 'pipe' });
  const bash = await getOnce(server.port, '/cgi-bin/bashism.sh');
  t.equal(bash?.status, 200, 'a #!/bin/bash script runs under bash');
  t.match(bash?.body.toString() ?? '', /^shell two \d/, 'bash arrays and $BASH_VERSION');
  t.equal((await getOnce(server.port, '/cgi-bin/bare.sh'))?.body.toString(), 'bare\n', 'no #!: sh, the .sh default');
  const missing = await getOnce(server.port, '/cgi-bin/missing.sh');
  t.equal(missing?.status, 500, 'a missing interpreter fails the start (as any program that cannot be started)');
  t.notMatch(missing?.body.toString() ?? '', /ran anyway/);
  const py = await getOnce(server.port, '/cgi-bin/any.py');
  t.equal(py?.body.toString(), 'py ok\n', '.py runs under the system python whatever its #! line');
});

t.test('programs run --cgi-nice (default 10) above porta’s own niceness, with either launcher', async (t) => {
  const { dir, remove } = tempDir();
  t.teardown(remove);
  mkdirSync(join(dir, 'cgi-bin'));
  // The pause: child_process sets the niceness from outside just after the start (the addon before exec).
  write(
    join(dir, 'cgi-bin', 'nice.sh'),
    "#!/bin/sh\nsleep 0.2\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nnice\n",
    true,
  );
  const own = getPriority();
  for (const cgiSpawn of ['auto', 'child_process'] as const) {
    const byDefault = await startPorta(t, { root: dir, cgiSpawn });
    const r = await getOnce(byDefault.port, '/cgi-bin/nice.sh');
    t.equal(r?.body.toString().trim(), String(Math.min(19, own + 10)), `${cgiSpawn}: 10 nicer by default`);
    const none = await startPorta(t, { root: dir, cgiSpawn, limits: { cgiNice: 0 } });
    t.equal((await getOnce(none.port, '/cgi-bin/nice.sh'))?.body.toString().trim(), String(own), `${cgiSpawn}: 0`);
  }
});
