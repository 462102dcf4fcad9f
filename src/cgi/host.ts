// The CGI host: decides whether a request names a program, checks the
// program may run, admits it through the slots, and starts a CgiRun. Settings
// are plain data (as Go's cgi.Handler); the lifecycle lives in run.ts.

import { accessSync, constants as fsConstants, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, extname, isAbsolute, join, sep } from 'node:path';
import type { CgiStdoutMode, Limits } from '../config';
import type { Exchange } from '../http/exchange';
import type { HeaderList } from '../http/response';
import { searchWords } from './env';
import type { Launcher } from './launcher';
import { routeCgi, type CgiRouting } from './route';
import { CgiRun, type CgiMode, type RunContext } from './run';
import { Slots } from './slots';

export interface CgiSettings {
  /** The document root, symlinks resolved. */
  documentRoot: string;
  routing: CgiRouting;
  /** Extension → interpreter (absolute path, or a name looked up on PATH). */
  interpreters: Record<string, string>;
  stdoutMode: CgiStdoutMode;
  passEnv: readonly string[];
  limits: Limits;
  launcher: Launcher;
  sendFile(exchange: Exchange, path: string, status: number, headers: HeaderList): void;
  redirect(exchange: Exchange, location: string): void;
}

export class CgiHost {
  readonly #settings: CgiSettings;
  readonly #slots: Slots;
  readonly #runContext: RunContext;
  readonly #interpreterPaths = new Map<string, string | null>();

  constructor(settings: CgiSettings) {
    this.#settings = settings;
    const { limits } = settings;
    this.#slots = new Slots(limits.cgiMaxRunning, limits.cgiMaxQueued, limits.cgiQueueTimeoutMs);
    this.#runContext = {
      launcher: settings.launcher,
      limits,
      passEnv: settings.passEnv,
      sendFile: settings.sendFile,
      redirect: settings.redirect,
    };
  }

  /** Answer `exchange` if its path names a program; false leaves it to static files. */
  handle(exchange: Exchange, segments: string[]): boolean {
    const s = this.#settings;
    const route = routeCgi(s.documentRoot, segments, s.routing);
    switch (route.kind) {
      case 'none':
        return false;
      case 'missing':
        exchange.sendError(404, 'not found');
        return true;
      case 'directory':
        exchange.sendError(403, 'a CGI folder is not listed');
        return true;
      case 'script':
        break;
    }
    if (!route.stat.isFile() || !this.#insideRoot(route.scriptPath)) {
      exchange.sendError(403, 'forbidden');
      return true;
    }
    const command = this.#command(route.scriptPath);
    if (command === null) {
      exchange.sendError(403, 'the script is not executable');
      return true;
    }
    const req = exchange.request;
    // RFC 3875 §5: nph- programs speak HTTP themselves. HEAD needs porta to
    // drop the body, so it always goes through the pipe.
    const mode: CgiMode = basename(route.scriptPath).startsWith('nph-')
      ? 'nph'
      : req.method === 'HEAD'
        ? 'pipe'
        : s.stdoutMode;
    const plan = {
      program: command.program,
      args: [...command.args, ...searchWords(req.query)],
      cwd: dirname(route.scriptPath),
      script: {
        scriptName: route.scriptName,
        scriptPath: route.scriptPath,
        pathInfo: route.pathInfo,
        documentRoot: s.documentRoot,
      },
      mode,
    };
    const run = new CgiRun(exchange, plan, this.#runContext, () => this.#slots.release());
    const ticket = this.#slots.acquire(
      () => run.start(),
      () => busy(exchange),
    );
    if (ticket.admission === 'full') busy(exchange);
    else if (ticket.admission === 'queued') exchange.onClose(ticket.withdraw);
    return true;
  }

  /** What to execute: the interpreter for the extension, or the file itself if it is executable. */
  #command(scriptPath: string): { program: string; args: string[] } | null {
    const ext = extname(scriptPath).toLowerCase();
    const interpreter = this.#settings.interpreters[ext];
    if (interpreter !== undefined) {
      const program = this.#interpreter(interpreter);
      if (program !== null) return { program, args: [scriptPath] };
    }
    try {
      accessSync(scriptPath, fsConstants.X_OK);
      return { program: scriptPath, args: [] };
    } catch {
      return null;
    }
  }

  #interpreter(name: string): string | null {
    let path = this.#interpreterPaths.get(name);
    if (path === undefined) {
      path = findProgram(name);
      this.#interpreterPaths.set(name, path);
    }
    return path;
  }

  #insideRoot(path: string): boolean {
    try {
      const real = realpathSync.native(path);
      const root = this.#settings.documentRoot;
      return real.startsWith(root.endsWith(sep) ? root : root + sep);
    } catch {
      return false;
    }
  }
}

function busy(exchange: Exchange): void {
  exchange.sendError(503, 'too many programs running; try again shortly', [['Retry-After', '2']]);
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
