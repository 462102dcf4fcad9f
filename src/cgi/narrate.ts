// What --trace says of a program run: its start (and what its fd 1 is) and
// its end. Observation only: nothing here is read back by the run.

import type { ConnectionTrace } from '../trace';
import type { ExitStatus } from './launcher';
import { describeExit } from './relay';

/** The program runs: its pid, how long the start took, and whether fd 1 *is* the client socket. */
export function traceSpawn(
  trace: ConnectionTrace,
  pid: number,
  plan: { program: string; args: string[] },
  /** The socket's fd in porta when it became the program's stdout; null in pipe mode. */
  socketFd: number | null,
  launchedAt: number,
): void {
  const ms = (performance.now() - launchedAt).toFixed(1);
  const stdout =
    socketFd === null
      ? 'fd 1 is a pipe to porta'
      : `fd 1 IS the client socket (fd ${socketFd} in porta, dup'd by the launcher, fd 1 in the child)`;
  trace('spawn', `spawned pid ${pid} in ${ms} ms: ${stdout}`, {
    pid,
    program: plan.program,
    argv: plan.args,
    stdout: socketFd === null ? 'pipe' : 'socket',
    fdInPorta: socketFd,
    fdInChild: 1,
  });
}

/** The program was reaped: how it ended, after how long. */
export function traceExit(trace: ConnectionTrace, pid: number | null, status: ExitStatus, ms: number): void {
  trace('exit', `pid ${pid ?? '?'} ${describeExit(status)} after ${ms} ms`, {
    pid,
    code: status.code,
    signal: status.signal,
    ms,
  });
}
