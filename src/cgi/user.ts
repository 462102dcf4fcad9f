// Who CGI programs run as, and how nice (at the end). Never root by accident: when porta runs as root
// (CI does, containers do), programs run as `nobody`, as Python's
// CGIHTTPRequestHandler and Apache do, or as --cgi-user NAME; root itself
// only when asked for with --cgi-user root. A porta that is not root cannot
// switch users: programs run as porta's own user.

import { accessSync, constants, readFileSync, type Stats, statSync } from 'node:fs';
import { getPriority, userInfo } from 'node:os';
import { dirname } from 'node:path';
import type { RunAs } from './launcher';

export const DEFAULT_CGI_USER = 'nobody';

export type UserLookup = (name: string) => [uid: number, gid: number] | null;

export type CgiUserChoice =
  | { kind: 'switch'; user: RunAs } // porta is root: programs run as this user
  | { kind: 'same'; name: string; why: string } // programs run as porta's own user
  | { kind: 'error'; message: string };

export function chooseCgiUser(wanted: string | null, lookup: UserLookup): CgiUserChoice {
  const euid = process.geteuid?.() ?? -1;
  const self = currentUserName();
  if (euid !== 0) {
    if (wanted !== null && wanted !== self) {
      return { kind: 'error', message: `--cgi-user ${wanted} needs porta to start as root` };
    }
    return { kind: 'same', name: self, why: 'porta is not root' };
  }
  const name = wanted ?? DEFAULT_CGI_USER;
  if (name === 'root' || name === '0') return { kind: 'same', name: 'root', why: '--cgi-user root' };
  const numeric = /^(\d+)(?::(\d+))?$/.exec(name);
  if (numeric !== null) {
    const uid = Number(numeric[1]);
    const gid = numeric[2] === undefined ? uid : Number(numeric[2]);
    return { kind: 'switch', user: { name, uid, gid } };
  }
  const ids = lookup(name) ?? lookupInPasswd(name);
  if (ids === null) return { kind: 'error', message: `CGI user '${name}' does not exist (give one with --cgi-user)` };
  if (ids[0] === 0) return { kind: 'same', name, why: `${name} is uid 0` };
  return { kind: 'switch', user: { name, uid: ids[0], gid: ids[1] } };
}

/** /etc/passwd, for when the addon (getpwnam_r) is not there. */
function lookupInPasswd(name: string): [number, number] | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[0] === name && fields.length >= 4) return [Number(fields[2]), Number(fields[3])];
    }
  } catch {
    // no passwd file
  }
  return null;
}

function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.geteuid?.() ?? '?');
  }
}

/**
 * May `user` execute the file `stat` describes? Mode bits as the kernel reads
 * them for that user (owner, else group, else other; supplementary groups are
 * dropped before the exec). With no user switch, access(2) answers for porta.
 */
export function executableBy(user: RunAs | null, path: string, stat: Stats): boolean {
  if (user === null) {
    try {
      accessSync(path, constants.X_OK);
      return (stat.mode & 0o111) !== 0; // root passes access() for a file no one may execute
    } catch {
      return false;
    }
  }
  const mode = stat.mode;
  if (stat.uid === user.uid) return (mode & 0o100) !== 0;
  if (stat.gid === user.gid) return (mode & 0o010) !== 0;
  return (mode & 0o001) !== 0;
}

/**
 * The first folder on the way to `dir` that `user` cannot enter, or null. A
 * checkout under /root (mode 0700) is the usual case: programs there cannot
 * run as nobody, and porta says so at start-up instead of at the first request.
 */
export function unreachableFolder(user: RunAs, dir: string): string | null {
  let current = dir;
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of chain) {
    let stat: Stats;
    try {
      stat = statSync(folder);
    } catch {
      return folder;
    }
    const mode = stat.mode;
    const ok =
      stat.uid === user.uid
        ? (mode & 0o100) !== 0
        : stat.gid === user.gid
          ? (mode & 0o010) !== 0
          : (mode & 0o001) !== 0;
    if (!ok) return folder;
  }
  return null;
}

/** porta's own niceness, read once: programs run --cgi-nice above it (setpriority sets a value, it does not add). */
let ownNice: number | null = null;

export function programNice(added: number): number {
  ownNice ??= getPriority();
  return Math.min(19, ownNice + added);
}
