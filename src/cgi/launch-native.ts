// The fast launcher: vfork + exec through the small addon in native/. The
// event loop waits for nothing (the spawn runs on a worker thread), and each
// child is reaped through a pidfd the loop watches.

import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { ExitStatus, LaunchedChild, Launcher, LaunchSpec } from './launcher';

type OnSpawn = (err: Error | null, fds: [pid: number, stdin: number, stdout: number, stderr: number] | null) => void;
type OnExit = (code: number | null, signal: number | null) => void;

export interface SpawnAddon {
  /**
   * Spawns on a worker thread; onSpawn gets the pid and the parent's pipe ends
   * (-1 for stdin from /dev/null, and for stdout in socket mode). stdoutFd is
   * borrowed for this call only (the addon dups it at once); uid/gid -1 keep porta's.
   */
  spawn(
    program: string,
    args: string[],
    env: string[],
    cwd: string,
    stdinNull: boolean,
    stdoutFd: number,
    nice: number,
    uid: number,
    gid: number,
    onSpawn: OnSpawn,
    onExit: OnExit,
  ): void;
  /** kill(-pgid, signo): 0 or the errno. */
  killGroup(pgid: number, signo: number): number;
  /** The passwd entry's [uid, gid], or null. */
  lookupUser(name: string): [number, number] | null;
}

// The first name a number has wins: 6 is SIGABRT (SIGIOT is its old alias), 29 SIGIO (SIGPOLL).
const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, number] of Object.entries(constants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name as NodeJS.Signals);
}

// build/src/cgi/launch-native.js → <package>/native/build/Release/porta_spawn.node
const addonPath = join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'porta_spawn.node');

function pipeEnd(fd: number, direction: 'read' | 'write'): Socket {
  return new Socket({ fd, readable: direction === 'read', writable: direction === 'write' });
}

function nativeLauncher(addon: SpawnAddon): Launcher {
  return {
    kind: 'addon',
    launch(spec: LaunchSpec): Promise<LaunchedChild> {
      return new Promise((resolve, reject) => {
        let resolveExit: (status: ExitStatus) => void = () => undefined;
        const exited = new Promise<ExitStatus>((done) => {
          resolveExit = done;
        });
        const onSpawn: OnSpawn = (err, fds) => {
          if (err !== null || fds === null) return reject(err ?? new Error('spawn failed'));
          const [pid, stdinFd, stdoutFd, stderrFd] = fds;
          resolve({
            pid,
            stdin: stdinFd >= 0 ? pipeEnd(stdinFd, 'write') : null,
            stdout: stdoutFd >= 0 ? pipeEnd(stdoutFd, 'read') : null,
            stderr: pipeEnd(stderrFd, 'read'),
            exited,
            kill: (signal) => void addon.killGroup(pid, constants.signals[signal]),
            groupAlive: () => addon.killGroup(pid, 0) === 0,
          });
        };
        const onExit: OnExit = (code, signal) =>
          resolveExit({ code, signal: signal === null ? null : (signalNames.get(signal) ?? null) });
        // Synchronous up to the queueing of the work: the borrowed fd is dup'd here, in this turn.
        addon.spawn(
          spec.program,
          spec.args,
          spec.env,
          spec.cwd,
          spec.stdin === 'null',
          spec.stdout.kind === 'socket' ? spec.stdout.fd : -1,
          spec.nice,
          spec.user?.uid ?? -1,
          spec.user?.gid ?? -1,
          onSpawn,
          onExit,
        );
      });
    },
  };
}

export type NativeLoad =
  | { launcher: Launcher; addon: SpawnAddon; reason: null }
  | { launcher: null; addon: null; reason: string };

export function loadNativeLauncher(): NativeLoad {
  if (process.platform !== 'linux') return { launcher: null, addon: null, reason: 'not Linux' };
  try {
    const addon = createRequire(__filename)(addonPath) as SpawnAddon;
    if (typeof addon.lookupUser !== 'function') throw new Error('an older build of the addon: run make build');
    return { launcher: nativeLauncher(addon), addon, reason: null };
  } catch (err) {
    return { launcher: null, addon: null, reason: (err as Error).message.split('\n')[0] ?? 'load failed' };
  }
}
