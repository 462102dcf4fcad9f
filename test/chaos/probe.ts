// What Linux's /proc says about a server process: open fds, resident memory,
// its children (zombies or still running), and any process whose working folder
// is inside the chaos site (CGI programs start in their own folder, so this also
// finds programs that were orphaned and re-parented away from porta).

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
}

export function fdCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Open fds by what they are: socket, pipe, anon_inode:[eventfd], file, … */
export function fdKinds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const name of names) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue;
    }
    const kind =
      /^(socket|pipe):/.exec(target)?.[1] ??
      (target.startsWith('anon_inode:') ? target : target.startsWith('/') ? 'file' : target);
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

/** What grew between two fdKinds() readings, e.g. "+30 socket, +2 pipe". */
export function fdGrowth(before: Record<string, number>, after: Record<string, number>): string {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)] as const)
    .filter(([, d]) => d !== 0)
    .map(([k, d]) => `${d > 0 ? '+' : ''}${d} ${k}`)
    .join(', ');
}

/** VmRSS in KiB, or null when the process is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function stat(pid: number): ProcInfo | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ppid ..." where comm may hold spaces and parentheses.
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    return { pid, ppid: Number(rest[1]), state: rest[0] ?? '?', comm: text.slice(open + 1, close) };
  } catch {
    return null;
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

export function childrenOf(pid: number): ProcInfo[] {
  return pids()
    .map(stat)
    .filter((p): p is ProcInfo => p !== null && p.ppid === pid);
}

export function zombiesOf(pid: number): ProcInfo[] {
  return childrenOf(pid).filter((p) => p.state === 'Z');
}

/** Processes whose current folder is `dir` or below it. */
export function processesIn(dir: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of pids()) {
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
    const info = stat(pid);
    if (info !== null) out.push(info);
  }
  return out;
}

export function describe(list: ProcInfo[]): string {
  return list.map((p) => `${p.pid} ${p.comm} ${p.state} (parent ${p.ppid})`).join(', ');
}
