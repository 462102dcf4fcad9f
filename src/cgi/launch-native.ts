// The fast launcher: the small addon in native/ starts programs sharing
// Node's memory until they exec (nothing copied), and the event loop waits
// for no exec (clone3 from the loop, else vfork on a worker thread); each
// child's stderr is read, and the child reaped through a pidfd, by the addon
// on the loop.

import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { ExitStatus, LaunchedChild, Launcher, LaunchSpec } from './launcher';
import { OrphanSweeper, type ReaperAddon } from './orphans';

type Fds = [pid: number, stdin: number, stdout: number];
type OnSpawn = (err: Error | null, fds: Fds | null) => void;
type OnExit = (code: number | null, signal: number | null, notStarted?: Error) => void;
type OnStderr = (chunk: Buffer | null) => void;

export interface SpawnAddon extends Partial<ReaperAddon> {
  /**
   * Starts the program. Returns [pid, stdinFd, stdoutFd] (-1 for stdin from
   * /dev/null, and for stdout in socket mode) when it was started within the
   * call; then onSpawn is never called, and an exec that failed is onExit's
   * notStarted. Else (a worker thread starts it) returns undefined and
   * onSpawn gets the fds or an error (code ENOENT, EACCES, …). args and env
   * are blocks: each entry followed by a NUL. stdoutFd is borrowed for this
   * call only (the addon dups it at once); uid/gid -1 keep porta's. onStderr
   * gets each chunk of the program's stderr, then null only if a chunk came.
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
  ): Fds | undefined;
  /** spawn()'s interface: 3 since it may start the program within the call (older builds say 2 or nothing). */
  readonly spawnVersion?: number;
  /**
   * Socket mode: watch (a dup of) the client socket for a reset while the
   * program runs; onHangup(code) once, code null if both directions were
   * shut down cleanly. fd borrowed for this call only. null: cannot watch.
   */
  watchHangup?(fd: number, onHangup: (code: string | null) => void): object | null;
  /** The watch ends (its dup closed); no report after this. */
  unwatchHangup?(watch: object): void;
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
const SPAWN_VERSION = 3;

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
function nulBlock(entries: readonly string[]): string {
  let block = '';
  for (const entry of entries) {
    const nul = entry.indexOf('\0');
    block += (nul < 0 ? entry : entry.slice(0, nul)) + '\0';
  }
  return block;
}

function nativeLauncher(addon: SpawnAddon): Launcher {
  /** Programs started and not yet seen to exit: the orphan sweeper leaves them to their watchers. */
  const programs = new Set<number>();
  return {
    kind: 'addon',
    adoptOrphans(timeoutMs, log) {
      if (addon.becomeSubreaper === undefined || addon.reapChild === undefined) return null;
      const rc = addon.becomeSubreaper();
      if (rc !== 0) return null;
      return new OrphanSweeper(addon as ReaperAddon, timeoutMs, programs, log);
    },
    launch(spec: LaunchSpec): Promise<LaunchedChild> {
      let resolveExit: (status: ExitStatus) => void = () => undefined;
      const exited = new Promise<ExitStatus>((done) => {
        resolveExit = done;
      });
      // Socket mode: the client's reset, watched from now (the fd is valid in this turn) to the exit.
      const stdout = spec.stdout;
      const onReset = stdout.kind === 'socket' ? stdout.onReset : undefined;
      const hangup =
        stdout.kind === 'socket' && onReset !== undefined
          ? (addon.watchHangup?.(stdout.fd, (code) => {
              if (code !== null) onReset(code);
            }) ?? null)
          : null;
      const unwatch = (): void => {
        if (hangup !== null) addon.unwatchHangup?.(hangup);
      };
      const onExit: OnExit = (code, signal, notStarted) => {
        unwatch();
        programs.delete(started);
        resolveExit({
          code,
          signal: signal === null ? null : (signalNames.get(signal) ?? null),
          ...(notStarted === undefined ? {} : { notStarted }),
        });
      };
      const sink = spec.stderr;
      const onStderr: OnStderr = (chunk) => (chunk === null ? sink.end() : sink.data(chunk));
      let started = -1;
      const child = ([pid, stdinFd, stdoutFd]: Fds): LaunchedChild => ({
        pid,
        stdin: stdinFd >= 0 ? pipeEnd(stdinFd, 'write') : null,
        stdout: stdoutFd >= 0 ? pipeEnd(stdoutFd, 'read') : null,
        exited,
        kill: (signal) => void addon.killGroup(pid, constants.signals[signal]),
        groupAlive: () => addon.killGroup(pid, 0) === 0,
      });
      /** The program runs: known as one of ours (not an orphan) until onExit. */
      const running = (fds: Fds): LaunchedChild => {
        started = fds[0];
        programs.add(started);
        return child(fds);
      };
      return new Promise((resolve, reject) => {
        const onSpawn: OnSpawn = (err, fds) => {
          if (err !== null || fds === null) {
            unwatch();
            return reject(err ?? new Error('spawn failed'));
          }
          resolve(running(fds));
        };
        // The borrowed fd is dup'd within this call, in this turn.
        let fds: Fds | undefined;
        try {
          fds = addon.spawn(
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
        } catch (err) {
          unwatch();
          throw err;
        }
        if (fds !== undefined) resolve(running(fds));
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
