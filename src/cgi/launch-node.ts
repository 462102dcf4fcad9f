// The fallback launcher: Node's child_process.spawn. It works everywhere Node
// does, but libuv forks the whole Node process and the event loop waits until
// the child has exec'd (≈ 7.5 ms a spawn on the reference machine), which is
// why launch-native.ts exists.

import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import type { ExitStatus, LaunchedChild, Launcher, LaunchSpec } from './launcher';

function environmentRecord(env: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) record[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return record;
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export const childProcessLauncher: Launcher = {
  kind: 'child_process',
  launch(spec: LaunchSpec): Promise<LaunchedChild> {
    try {
      return Promise.resolve(spawnChild(spec));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  },
};

function spawnChild(spec: LaunchSpec): LaunchedChild {
  const child = spawn(spec.program, spec.args, {
    cwd: spec.cwd,
    env: environmentRecord(spec.env),
    // The child leads its own process group, so a timeout can kill
    // everything it started (RFC 3875 says nothing; lighttpd does the same).
    detached: true,
    // The borrowed socket fd: libuv dup2()s it in the forked child before
    // spawn() returns, so the number is never used after this turn.
    stdio: [spec.stdin === 'null' ? 'ignore' : 'pipe', spec.stdout.kind === 'socket' ? spec.stdout.fd : 'pipe', 'pipe'],
    // libuv drops supplementary groups, then sets the group and the user.
    ...(spec.user === null ? {} : { uid: spec.user.uid, gid: spec.user.gid }),
    windowsHide: true,
  });
  let failure: Error | null = null;
  child.once('error', (err) => {
    failure = err;
  });
  const pid = child.pid;
  const { stdin, stderr } = child;
  if (pid === undefined || (stdin === null && spec.stdin === 'pipe') || stderr === null) {
    // ENOENT/EACCES: libuv reports them before any pid exists.
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    throw new Error(`spawn failed${failure === null ? '' : `: ${(failure as Error).message}`}`);
  }
  // Set from outside once it runs: what the program does in its first
  // instant (and anything it starts then) keeps porta's niceness. The addon
  // sets it in the child before exec.
  if (spec.nice > 0) {
    try {
      setPriority(pid, spec.nice);
    } catch {
      // best effort, as in the addon
    }
  }
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  stderr.on('data', (chunk: Buffer) => spec.stderr.data(chunk));
  stderr.on('end', () => spec.stderr.end());
  stderr.on('error', () => undefined);
  return {
    pid,
    stdin,
    stdout: spec.stdout.kind === 'pipe' ? child.stdout : null,
    exited,
    kill: (signal) => killGroup(pid, signal),
    groupAlive: () => groupAlive(pid),
  };
}
