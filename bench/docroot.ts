// The harness's own document root, the same for every server: two static
// files and two CGI programs.

import { randomFillSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit } from './util';

export interface Docroot {
  /** The temp folder holding root/ and per-server scratch folders. */
  base: string;
  root: string;
  remove(): void;
}

export const HELLO_SH_TEXT = 'Hello from sh';
export const HELLO_PY_TEXT = 'Hello from py';

export function makeDocroot(): Docroot {
  const base = mkdtempSync(join(tmpdir(), 'porta-bench-'));
  const root = join(base, 'root');
  mkdirSync(join(root, 'cgi-bin'), { recursive: true });
  writeFileSync(join(root, '1k.bin'), randomFillSync(Buffer.alloc(1024)));
  writeFileSync(join(root, '10m.bin'), randomFillSync(Buffer.alloc(10 * 1024 * 1024)));
  const sh = join(root, 'cgi-bin', 'hello.sh');
  writeFileSync(sh, `#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n${HELLO_SH_TEXT}\\n'\n`);
  const py = join(root, 'cgi-bin', 'hello.py');
  writeFileSync(
    py,
    `#!/usr/bin/python3\nimport sys\nsys.stdout.write('Content-Type: text/plain\\r\\n\\r\\n${HELLO_PY_TEXT}\\n')\n`,
  );
  chmodSync(sh, 0o755);
  chmodSync(py, 0o755);
  // mkdtemp makes 0700 folders; servers may read as another user.
  chmodSync(base, 0o755);
  const remove = () => rmSync(base, { recursive: true, force: true });
  // Removed on SIGINT or an error exit too, after the servers using it are killed.
  const unregister = atExit(remove);
  return {
    base,
    root,
    remove() {
      unregister();
      remove();
    },
  };
}
