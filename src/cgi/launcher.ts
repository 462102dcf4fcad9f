// How a CGI program is started: the contract both launchers keep. The
// spawn addon (launch-native.ts) starts programs without forking Node's
// whole address space; child_process (launch-node.ts) is the fallback.
//
// Who owns which fd:
// - spec.stdout.fd (socket mode) is the client socket's fd, borrowed for the
//   duration of the launch() call only: the caller reads it from the socket's
//   handle in the same event-loop turn, and the launcher never keeps the
//   number. The addon dups it (F_DUPFD_CLOEXEC) and starts the program from
//   the dup within the call; child_process dup2()s it in the forked child
//   before spawn() returns. Afterwards the caller's socket may only be ended
//   or destroyed: the fd is left blocking, shared with the child.
// - the stdin and stdout pipes are owned by the returned LaunchedChild; the
//   stderr pipe by the launcher, which reads it into spec.stderr until EOF;
//   the child's ends are closed in the parent right after the spawn.

import type { Readable, Writable } from 'node:stream';
import type { OrphanSweeper } from './orphans';

export type StdoutTarget =
  | { kind: 'pipe' } // pipe mode: porta reads the program's output
  | {
      // socket mode: the program writes to the client itself (fd borrowed, see top)
      kind: 'socket';
      fd: number;
      /**
       * The client reset the connection while the program ran (code:
       * ECONNRESET, …). Only a launcher that can watch the socket calls it
       * (the addon); with child_process the program learns it at its next
       * write (EPIPE), or its timeout stops it.
       */
      onReset?: (code: string) => void;
    };

/**
 * Where the program's stderr goes, as it comes. end() follows the last
 * chunk; it may be left out when no chunk came (the addon reads stderr in C
 * and calls into JavaScript only for output).
 */
export interface StderrSink {
  data(chunk: Buffer): void;
  end(): void;
}

/** Who the program runs as (never root unless asked for: see config.ts cgiUser). */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export interface LaunchSpec {
  /** Absolute path of the file to execute (the interpreter, or the script itself). */
  program: string;
  /** argv[1…]; argv[0] is `program`. */
  args: string[];
  /** 'null': no request body, the program reads /dev/null (no pipe to make or feed). */
  stdin: 'pipe' | 'null';
  /** The complete environment, as "NAME=value" strings. Nothing else is inherited. */
  env: string[];
  /** Working directory of the child (the script's folder, as Apache does). */
  cwd: string;
  stdout: StdoutTarget;
  stderr: StderrSink;
  /** Niceness added to the program (0: none), so static files stay quick beside it. */
  nice: number;
  /** The user it runs as; null: porta's own (porta is not root, or --cgi-user root). */
  user: RunAs | null;
}

export interface ExitStatus {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * The program never ran, and why (ENOENT, EACCES, …): a launcher that
   * starts programs without waiting for their exec learns of a failed one
   * only when the child exits. Others reject launch() instead.
   */
  notStarted?: Error;
}

export interface LaunchedChild {
  readonly pid: number;
  /** Write end of the program's stdin (null with stdin 'null'). end() it to give the program EOF. */
  readonly stdin: Writable | null;
  /** Read end of the program's stdout; null in socket mode. */
  readonly stdout: Readable | null;
  /** Resolves once the child has been reaped (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Signal the child's whole process group (it is started as a group leader). */
  kill(signal: NodeJS.Signals): void;
  /** Is any process of its group still there (the child, or what it left running)? */
  groupAlive(): boolean;
}

export interface Launcher {
  readonly kind: 'addon' | 'child_process';
  /**
   * Resolves once the program runs (or, see ExitStatus.notStarted, is on its
   * way to); rejects if it cannot be started at all (ENOENT, EACCES, …). A
   * borrowed stdout fd is done with when this returns.
   */
  launch(spec: LaunchSpec): Promise<LaunchedChild>;
  /**
   * Make this process the subreaper of what its programs leave behind
   * outside their groups, and return the sweeper that ends it (orphans.ts);
   * null where that cannot be done. Only for a process whose children are
   * all this launcher's programs (the CLI's serving process).
   */
  adoptOrphans?(timeoutMs: number, log: (message: string) => void): OrphanSweeper | null;
}
