// porta's name and version, in a module of their own: the primary says them
// (the banner, --version) and needs nothing else of http/response.ts, whose
// status table would bring node:http into a process that serves nothing.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const SERVER_NAME = 'porta';
export const SERVER_VERSION: string = readOwnVersion();

/** porta's version from its package.json, found upward from this file (src/ or build/src/). */
function readOwnVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === SERVER_NAME && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look one folder up
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}
