// Which handler answers a request: a CGI program or a static file. The choice
// is made on the decoded, normalised path from http/path.ts, the same function
// static files use, and both look files up through the one DocumentRoot, so
// no encoding trick or symlink can route around it.

import { existsSync } from 'node:fs';
import type { Settings } from './config';
import { endFlowStreams, FLOW_PATH, serveFlow } from './ops/flow';
import type { Tracer } from './trace';
import { CgiHost } from './cgi/host';
import type { Launcher, RunAs } from './cgi/launcher';
import { chooseLauncher } from './cgi/launchers';
import { chooseCgiUser, unreachableFolder } from './cgi/user';
import type { Dispatch, Exchange } from './http/exchange';
import { AddressRanges } from './http/cidr';
import { SERVER_ALLOW } from './http/methods';
import { RequestPaths } from './http/path';
import { RedirectedExchange } from './http/redirect';
import { DocumentRoot } from './http/root';
import { type StatusSource, serveStatus } from './ops/status';
import { StaticFiles } from './static/serve';

export interface Handlers {
  staticFiles: StaticFiles;
  cgi: CgiHost;
  launcher: Launcher;
  /** Who CGI programs run as, in words for the banner. */
  cgiUser: string;
  /** Things to say at start-up (a launcher fallback, a root the CGI user cannot reach). */
  notes: string[];
  dispatch: Dispatch;
  /** The server is stopping: end the streams that never end on their own (the flow page's). */
  endStreams(): void;
  /** The server has stopped: what the handlers hold outside any connection (the root's folder watches) goes. */
  close(): void;
}

export class StartupError extends Error {}

export interface HandlerOptions {
  /** Start programs with this launcher instead of choosing one (the CGI fuzzer plays programs). */
  launcher?: Launcher;
  /** Where the status page gets its numbers (the server gives it). */
  status?: StatusSource;
  /** What the flow page shows live (--flow); null when nothing traces. */
  tracer?: Tracer | null;
  /**
   * The CLI's serving process, whose only children are its programs: it
   * adopts and ends what they leave behind outside their groups (cgi/orphans.ts).
   */
  adoptOrphans?: boolean;
  /** Where that is said at run time. */
  logError?: (message: string) => void;
}

export function createHandlers(settings: Settings, options: HandlerOptions = {}): Handlers {
  const { limits } = settings;
  const root = new DocumentRoot(settings.root, limits.statCacheMs);
  const staticFiles = new StaticFiles({
    root,
    dotfiles: settings.dotfiles,
    cacheFileSize: limits.staticCacheFileSize,
    cacheBytes: limits.staticCacheBytes,
    readChunk: limits.staticReadChunk,
    cacheControl: settings.cacheControl,
    sendfile: settings.sendfile ? { minLength: limits.staticSendfileMin, sendTimeoutMs: limits.sendTimeoutMs } : null,
  });
  const chosen = chooseLauncher(settings.cgiSpawn);
  const { note, lookupUser } = chosen;
  const launcher = options.launcher ?? chosen.launcher;
  const notes = note === null || options.launcher !== undefined ? [] : [note];
  if (staticFiles.sendfileUnavailable !== null) {
    notes.push(`large files stream through Node, not sendfile(2): ${staticFiles.sendfileUnavailable}`);
  }
  const choice = chooseCgiUser(settings.cgiUser, lookupUser);
  if (choice.kind === 'error') throw new StartupError(choice.message);
  // --user: the whole worker becomes that user once it listens, so programs
  // inherit it; there will be no root left to switch with.
  const servedAs = settings.user !== null && choice.kind === 'switch';
  const user: RunAs | null = choice.kind === 'switch' && !servedAs ? choice.user : null;
  const cgiUser =
    choice.kind !== 'switch'
      ? `${choice.name} (${choice.why})`
      : servedAs
        ? `${choice.user.name} (--user)`
        : choice.user.name;
  if (choice.kind === 'switch') {
    const blocked = unreachableFolder(choice.user, root.realRoot);
    if (blocked !== null) {
      const who = servedAs ? `porta serves as ${choice.user.name}` : `CGI programs run as ${choice.user.name}`;
      notes.push(`${who}, who cannot enter ${blocked}: requests will fail (403/500) until it can`);
    }
  }

  const statusAllow = new AddressRanges(settings.statusAllow);
  const tracer = options.tracer ?? null;
  const paths = new RequestPaths(root.realRoot, { dotfiles: settings.dotfiles });
  const dispatch = (exchange: Exchange): void => {
    const path = exchange.request.path;
    if (settings.statusPath !== null && path === settings.statusPath && options.status !== undefined) {
      exchange.trace?.('dispatch', 'the status page', { handler: 'status' });
      return serveStatus(exchange, options.status, statusAllow);
    }
    // --flow: the live flow page and its event stream (src/ops/flow.ts).
    if (settings.flow && tracer !== null && (path === FLOW_PATH || path.startsWith(`${FLOW_PATH}/`))) {
      return serveFlow(exchange, tracer, statusAllow);
    }
    if (path === '*') {
      // RFC 9110 §9.3.7: "OPTIONS *" asks about the server as a whole.
      exchange.trace?.('dispatch', 'OPTIONS *: the server itself answers', { handler: 'options' });
      exchange.sendHead(204, [['Allow', SERVER_ALLOW]], { kind: 'none' });
      exchange.end();
      return;
    }
    const verdict = paths.resolve(exchange.request.path);
    // Program names are UTF-8; a path that is not (fsPath bytes) can only be a file.
    const programs = settings.cgi && verdict.kind === 'ok' && typeof verdict.fsPath === 'string';
    if (programs && cgi.handle(exchange, verdict.segments, verdict.trailingSlash)) return;
    staticFiles.serve(exchange, verdict);
  };

  const orphans =
    options.adoptOrphans === true && options.launcher === undefined
      ? (launcher.adoptOrphans?.(limits.cgiTimeoutMs, options.logError ?? (() => undefined)) ?? null)
      : null;
  const cgi: CgiHost = new CgiHost({
    root,
    orphans,
    routing: { dirs: settings.cgiDirs, extensions: settings.cgiExtensions },
    interpreters: settings.cgiInterpreters,
    explicitInterpreters: settings.cgiExplicitInterpreters,
    stdoutMode: settings.cgiStdout,
    passEnv: settings.cgiPassEnv,
    limits,
    launcher,
    user,
    sendFile(exchange, path, _status, headers) {
      // lighttpd's cgi.x-sendfile: porta streams the file, with its own
      // conditional and range handling; only files under the root qualify.
      // A path that names nothing is a 404 (as lighttpd answers), wherever it points.
      if (!existsSync(path)) {
        exchange.logError(`X-Sendfile names no file: ${path}`);
        return exchange.sendError(404, 'not found');
      }
      if (!root.contains(path)) return exchange.sendError(403, 'X-Sendfile outside the document root');
      staticFiles.serveFile(exchange, path, headers);
    },
    redirect(exchange, location) {
      const depth = exchange instanceof RedirectedExchange ? exchange.redirects : 0;
      if (depth >= limits.cgiMaxLocalRedirects) return exchange.sendError(500, 'too many local redirects');
      dispatch(new RedirectedExchange(exchange, location));
    },
  });

  /** Streams that would last for ever (the flow page's) end when the server stops. */
  const endStreams = (): void => {
    if (tracer !== null) endFlowStreams(tracer);
  };
  return { staticFiles, cgi, launcher, cgiUser, notes, dispatch, endStreams, close: () => root.close() };
}
