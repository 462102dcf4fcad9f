// The fast launcher: vfork + exec through the small addon in native/. The
// event loop waits for nothing (the spawn runs on a worker thread); each
// child's stderr is read, and the child reaped through a pidfd, by the addon
// on the loop.

import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { ExitStatus, LaunchedChild, Launcher, LaunchSpec } from './launcher';

type OnSpawn = (err: Error | null, fds: [pid: number, stdin: number, stdout: number] | null) => void;
type OnExit = (code: number | null, signal: number | null) => void;
type OnStderr = (chunk: Buffer | null) => void;

export interface SpawnAddon {
  /**
   * Starts the program on a worker thread; onSpawn gets [pid, stdinFd, stdoutFd]
   * (-1 for stdin from /dev/null, and for stdout in socket mode) or an error
   * (code ENOENT, EACCES, …). args and env are blocks: each entry followed by
   * a NUL. stdoutFd is borrowed for this call only (the addon dups it at
   * once); uid/gid -1 keep porta's. onStderr gets each chunk of the program's
   * stderr, then null only if a chunk came.
   */
  spawn(
    program: string,
    args: string,
    env: string,
    cwd: string,
    stdinNull: boolean,
    stdoutFd: number,
    nice: number,
    uid: number,
    gid: number,
    onSpawn: OnSpawn,
    onExit: OnExit,
    onStderr: OnStderr,
  ): void;
  /** The spawn interface's version: 2 since spawn() returns its fds and reads stderr itself. */
  readonly spawnVersion?: number;
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

/** What this file expects of spawn() (the addon says which it has: older builds say nothing). */
const SPAWN_VERSION = 2;

// build/src/cgi/launch-native.js → <package>/native/build/Release/porta_spawn.node
const addonPath = join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'porta_spawn.node');

function pipeEnd(fd: number, direction: 'read' | 'write'): Socket {
  return new Socket({ fd, readable: direction === 'read', writable: direction === 'write' });
}

/**
 * Entries as the addon takes them, each followed by a NUL. An entry is cut at
 * a NUL of its own, as a C string would be: never split into two (a request
 * header's value must not become a second variable).
 */
export function nulBlock(entries: readonly string[]): string {
  let block = '';
  for (const entry of entries) {
    const nul = entry.indexOf('\0');
    block += (nul < 0 ? entry : entry.slice(0, nul)) + '\0';
  }
  return block;
}

function nativeLauncher(addon: SpawnAddon): Launcher {
  return {
    kind: 'addon',
    launch(spec: LaunchSpec): Promise<LaunchedChild> {
      let resolveExit: (status: ExitStatus) => void = () => undefined;
      const exited = new Promise<ExitStatus>((done) => {
        resolveExit = done;
      });
      const onExit: OnExit = (code, signal) =>
        resolveExit({ code, signal: signal === null ? null : (signalNames.get(signal) ?? null) });
      const sink = spec.stderr;
      const onStderr: OnStderr = (chunk) => (chunk === null ? sink.end() : sink.data(chunk));
      return new Promise((resolve, reject) => {
        const onSpawn: OnSpawn = (err, fds) => {
          if (err !== null || fds === null) return reject(err ?? new Error('spawn failed'));
          const [pid, stdinFd, stdoutFd] = fds;
          resolve({
            pid,
            stdin: stdinFd >= 0 ? pipeEnd(stdinFd, 'write') : null,
            stdout: stdoutFd >= 0 ? pipeEnd(stdoutFd, 'read') : null,
            exited,
            kill: (signal) => void addon.killGroup(pid, constants.signals[signal]),
            groupAlive: () => addon.killGroup(pid, 0) === 0,
          });
        };
        // Synchronous up to the queueing of the work: the borrowed fd is dup'd here, in this turn.
        addon.spawn(
          spec.program,
          nulBlock(spec.args),
          nulBlock(spec.env),
          spec.cwd,
          spec.stdin === 'null',
          spec.stdout.kind === 'socket' ? spec.stdout.fd : -1,
          spec.nice,
          spec.user?.uid ?? -1,
          spec.user?.gid ?? -1,
          onSpawn,
          onExit,
          onStderr,
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
    if (addon.spawnVersion !== SPAWN_VERSION) throw new Error('an older build of the addon: run make build');
    return { launcher: nativeLauncher(addon), addon, reason: null };
  } catch (err) {
    return { launcher: null, addon: null, reason: (err as Error).message.split('\n')[0] ?? 'load failed' };
  }
}
