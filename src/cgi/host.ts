// The CGI host: decides whether a request names a program, checks the
// program may run, admits it through the slots, and starts a CgiRun. Settings
// are plain data (as Go's cgi.Handler); the lifecycle lives in run.ts.

import type { Stats } from 'node:fs';
import { accessSync, closeSync, constants as fsConstants, openSync, readSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, extname, isAbsolute, join } from 'node:path';
import type { CgiStdoutMode, Limits } from '../config';
import type { Exchange } from '../http/exchange';
import type { HeaderList } from '../http/response';
import type { DocumentRoot } from '../http/root';
import { searchWords } from './env';
import type { Launcher, RunAs } from './launcher';
import type { OrphanSweeper } from './orphans';
import { type CgiRouting, routeCgi } from './route';
import { type CgiMode, CgiRun, type RunContext } from './run';
import { Slots } from './slots';
import { executableBy } from './user';

export interface CgiSettings {
  /** The document root: where paths are looked up, and the one containment check. */
  root: DocumentRoot;
  routing: CgiRouting;
  /** Extension → interpreter (absolute path, or a name looked up on PATH), for executable scripts. */
  interpreters: Record<string, string>;
  /**
   * Extensions the user mapped with --cgi-interpreter: those scripts run
   * through the interpreter even without their execute bit.
   */
  explicitInterpreters: readonly string[];
  stdoutMode: CgiStdoutMode;
  passEnv: readonly string[];
  limits: Limits;
  launcher: Launcher;
  /** Who programs run as; null: porta's own user. */
  user: RunAs | null;
  /** Ends what programs leave behind outside their groups; null where this process cannot adopt them. */
  orphans: OrphanSweeper | null;
  sendFile(exchange: Exchange, path: string, status: number, headers: HeaderList): void;
  redirect(exchange: Exchange, location: string): void;
}

export class CgiHost {
  readonly #settings: CgiSettings;
  readonly #slots: Slots;
  readonly #runContext: RunContext;
  readonly #interpreterPaths = new Map<string, string | null>();
  /** Runs admitted and not yet done, for stopAll(). */
  readonly #runs = new Set<CgiRun>();

  constructor(settings: CgiSettings) {
    this.#settings = settings;
    const { limits } = settings;
    this.#slots = new Slots(limits.cgiMaxRunning, limits.cgiMaxQueued, limits.cgiQueueTimeoutMs);
    this.#runContext = {
      launcher: settings.launcher,
      limits,
      passEnv: settings.passEnv,
      user: settings.user,
      sendFile: settings.sendFile,
      redirect: settings.redirect,
    };
  }

  /** The server stops: every program still running is sent TERM (KILL after the grace). */
  stopAll(now = false): void {
    for (const run of this.#runs) run.stop(now);
  }

  /** The server is done: what programs left behind outside their groups goes with it. */
  endOrphans(): void {
    this.#settings.orphans?.endAll();
  }

  /** Runs started and not yet reaped (a stopping server waits for them). */
  get active(): number {
    return this.#runs.size;
  }

  /** Programs running now, and requests waiting for a slot. */
  get load(): { running: number; queued: number } {
    return { running: this.#slots.running, queued: this.#slots.queued };
  }

  /** Answer `exchange` if its path names a program; false leaves it to static files. */
  handle(exchange: Exchange, segments: string[], trailingSlash = false): boolean {
    const s = this.#settings;
    const route = routeCgi(s.root.realRoot, segments, s.routing, (path) => s.root.lookup(path), trailingSlash);
    switch (route.kind) {
      case 'none':
        return false;
      case 'missing':
        exchange.sendError(404, 'not found');
        return true;
      case 'directory':
        exchange.sendError(403, 'a CGI folder is not listed');
        return true;
      case 'forbidden':
        exchange.sendError(403, 'forbidden');
        return true;
      case 'script':
        break;
    }
    const command = this.#command(route.scriptPath, route.stat);
    if (command === null) {
      exchange.sendError(403, 'the script is not executable');
      return true;
    }
    const req = exchange.request;
    const nph = basename(route.scriptPath).startsWith('nph-');
    if (nph && req.peer.secure) {
      // Over TLS the socket carries encrypted bytes: a program cannot write to
      // it, and an nph- program must. Never a plaintext byte on a TLS connection.
      exchange.logError(`${route.scriptName}: nph- scripts cannot run over HTTPS (the socket is encrypted)`);
      exchange.sendError(500, 'an nph- script cannot answer over HTTPS');
      return true;
    }
    // RFC 3875 §5: nph- programs speak HTTP themselves. HEAD needs porta to
    // drop the body, so it always goes through the pipe (headOnly: a local
    // redirect's GET answers a HEAD too), as does every answer over TLS
    // (porta must encrypt what the program says).
    const mode: CgiMode = nph ? 'nph' : exchange.headOnly || req.peer.secure ? 'pipe' : s.stdoutMode;
    const plan = {
      program: command.program,
      args: [...command.args, ...searchWords(req.query)],
      cwd: dirname(route.scriptPath),
      script: {
        scriptName: route.scriptName,
        scriptPath: route.scriptPath,
        pathInfo: route.pathInfo,
        documentRoot: s.root.realRoot,
      },
      mode,
    };
    const run: CgiRun = new CgiRun(exchange, plan, this.#runContext, () => {
      this.#runs.delete(run);
      this.#slots.release();
      this.#settings.orphans?.programEnded();
    });
    const ticket = this.#slots.acquire(
      () => {
        this.#runs.add(run); // from start to its slot's release (which every run reaches)
        run.start();
      },
      () => busy(exchange),
    );
    if (ticket.admission === 'full') busy(exchange);
    else if (ticket.admission === 'queued') exchange.onClose(ticket.withdraw);
    return true;
  }

  /**
   * What to execute. A script runs only with its execute bit for the user
   * programs run as (403 otherwise, as Python's server and Apache answer).
   * Which interpreter: the one the user mapped to its extension with
   * --cgi-interpreter (even without the bit); for .py the system python, as
   * Python's server runs .py with its own (so a `#!/usr/bin/env python3` line
   * never picks a per-user python); else the script's own `#!` line, started
   * by the kernel as a shell would (a `#!/bin/bash` script is not run by sh);
   * and only for a script without one, the default for its extension.
   */
  #command(scriptPath: string, stat: Stats): { program: string; args: string[] } | null {
    const s = this.#settings;
    const ext = extname(scriptPath).toLowerCase();
    const interpreter = s.interpreters[ext];
    const explicit = s.explicitInterpreters.includes(ext);
    if (!explicit && !executableBy(s.user, scriptPath, stat)) return null;
    const mapped = explicit || ALWAYS_INTERPRETED.has(ext) || !this.#namesInterpreter(scriptPath, stat);
    if (interpreter !== undefined && mapped) {
      const program = this.#interpreter(interpreter);
      if (program !== null) return { program, args: [scriptPath] };
      if (explicit) return null;
    }
    return { program: scriptPath, args: [] };
  }

  // Read once per remembered lookup (the same Stats object: http/root.ts).
  readonly #shebangs = new WeakMap<Stats, boolean>();

  /** Whether the script starts with `#!` (two bytes, read on the loop: a file just stat'ed). */
  #namesInterpreter(scriptPath: string, stat: Stats): boolean {
    let known = this.#shebangs.get(stat);
    if (known === undefined) {
      known = startsWithShebang(scriptPath);
      this.#shebangs.set(stat, known);
    }
    return known;
  }

  #interpreter(name: string): string | null {
    let path = this.#interpreterPaths.get(name);
    if (path === undefined) {
      path = findProgram(name);
      this.#interpreterPaths.set(name, path);
    }
    return path;
  }
}

function busy(exchange: Exchange): void {
  exchange.sendError(503, 'too many programs running; try again shortly', [['Retry-After', '2']]);
}

/** Extensions whose default interpreter is used even when the script names its own (Python's rule for .py). */
const ALWAYS_INTERPRETED = new Set(['.py']);

function startsWithShebang(path: string): boolean {
  const first = Buffer.alloc(2);
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    return readSync(fd, first, 0, 2, 0) === 2 && first[0] === 0x23 && first[1] === 0x21; // "#!"
  } catch {
    return false; // unreadable here: the extension's interpreter, as before
  } finally {
    try {
      if (fd !== null) closeSync(fd);
    } catch {
      // EIO closing a file only read: nothing to do
    }
  }
}

/** `name` itself if absolute, else the first executable match on PATH. */
function findProgram(name: string): string | null {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin')
        .split(delimiter)
        .filter((d) => d !== '')
        .map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, fsConstants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return null;
}
