// Processes a program left behind outside its process group. killGroup
// reaches a program's group; a descendant that left it (setsid, a double
// fork: how a daemon detaches) used to run on, adopted by init, past any
// timeout, holding whatever it inherited (a reviewer's were alive minutes
// later). A serving process that starts programs only through the addon
// makes itself their child subreaper (prctl PR_SET_CHILD_SUBREAPER): such a
// descendant, once the process it came from has exited, becomes porta's
// child. A sweep, soon after each program ends and then every second while
// any are left, finds porta's children that are not programs it started,
// kills every one older than --cgi-timeout (a request started before it, so
// that request's time is up) and reaps those that have exited once they are
// a second old (a group's background jobs, TERMed when their program ended,
// are gone then, not 30 s later). Nothing younger is touched, so a program
// just started on a thread, not yet known here, is never mistaken for one.

import { readdirSync, readFileSync } from 'node:fs';

export interface ReaperAddon {
  /** 0 or errno. */
  becomeSubreaper(): number;
  /** 1 reaped, 0 still running, or -errno. */
  reapChild(pid: number): number;
}

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ: 100 on every Linux ABI). */
const USER_HZ = 100;
const SOON_MS = 100;
const AGAIN_MS = 1000;
/** A zombie this old is no program being started (that takes milliseconds): reaped. */
const ZOMBIE_MS = 1000;

export class OrphanSweeper {
  readonly #addon: ReaperAddon;
  readonly #timeoutMs: number;
  /** The programs the launcher started and has not seen exit: never swept. */
  readonly #programs: ReadonlySet<number>;
  readonly #log: (message: string) => void;
  #timer: NodeJS.Timeout | null = null;

  constructor(addon: ReaperAddon, timeoutMs: number, programs: ReadonlySet<number>, log: (message: string) => void) {
    this.#addon = addon;
    this.#timeoutMs = timeoutMs;
    this.#programs = programs;
    this.#log = log;
  }

  /** The server stops: whatever it adopted is ended now, whatever its age (else init would adopt it next). */
  endAll(): void {
    for (const pid of childrenOfThisProcess()) {
      if (this.#programs.has(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  /** A program ended: what it left behind may be porta's child now. */
  programEnded(): void {
    this.#schedule(SOON_MS);
  }

  #schedule(ms: number): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      try {
        if (this.#sweep() > 0) this.#schedule(AGAIN_MS);
      } catch (err) {
        this.#log(`orphan sweep: ${(err as Error).message}`);
      }
    }, ms);
    this.#timer.unref();
  }

  /** One pass: the adopted children left (still running or not yet reaped). */
  #sweep(): number {
    let left = 0;
    const now = uptimeTicks();
    for (const pid of childrenOfThisProcess()) {
      if (this.#programs.has(pid)) continue;
      const stat = procStat(pid);
      if (stat === null) continue; // reaped meanwhile
      left++;
      const ageMs = ((now - stat.startTicks) * 1000) / USER_HZ;
      if (stat.state === 'Z') {
        if (ageMs >= Math.min(ZOMBIE_MS, this.#timeoutMs) || stat.killed) this.#addon.reapChild(pid);
        continue;
      }
      if (ageMs < this.#timeoutMs) continue;
      // Our child, not yet reaped: the pid cannot be anyone else's.
      try {
        process.kill(pid, 'SIGKILL');
        this.#log(
          `killed pid ${pid} (${stat.command}), left behind by a program outside its group, after ${Math.round(ageMs)} ms`,
        );
      } catch {
        // exited meanwhile: the next sweep reaps it
      }
    }
    return left;
  }
}

/** This process's children, every thread's (a thread-pool spawn is that thread's child). */
function childrenOfThisProcess(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    let text = '';
    try {
      text = readFileSync(`/proc/self/task/${tid}/children`, 'latin1');
    } catch {
      continue; // the thread ended
    }
    for (const word of text.split(' ')) if (word !== '' && word !== '\n') pids.push(Number(word));
  }
  return pids;
}

function procStat(pid: number): { state: string; startTicks: number; command: string; killed: boolean } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ..." — comm may hold spaces and parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // Field 22 (starttime) is the 20th after the comm; exit_code (field 52) says how a zombie ended.
  const exitCode = Number(fields[49] ?? 0);
  return {
    state: fields[0] ?? '?',
    startTicks: Number(fields[19] ?? 0),
    command: text.slice(text.indexOf('(') + 1, close),
    killed: (exitCode & 0x7f) === 9,
  };
}

function uptimeTicks(): number {
  return Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * USER_HZ;
}
