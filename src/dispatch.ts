// Which handler answers a request: a CGI program or a static file. The choice
// is made on the decoded, normalised path from http/path.ts, the same function
// static files use, so no encoding trick can route around it.

import type { Settings } from './config';
import { CgiHost } from './cgi/host';
import type { Launcher } from './cgi/launcher';
import { chooseLauncher } from './cgi/launchers';
import type { Exchange } from './http/exchange';
import { resolveRequestPath } from './http/path';
import { RedirectedExchange } from './http/redirect';
import type { Dispatch } from './net/connection';
import { StaticFiles } from './static/serve';

/** What some resource here accepts: static files take GET/HEAD/OPTIONS, CGI programs any method. */
const SERVER_METHODS = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS';

export interface Handlers {
  staticFiles: StaticFiles;
  cgi: CgiHost;
  launcher: Launcher;
  /** Why CGI does not use the preferred launcher, if it does not. */
  launcherNote: string | null;
  dispatch: Dispatch;
}

export function createHandlers(settings: Settings): Handlers {
  const { limits } = settings;
  const staticFiles = new StaticFiles({
    root: settings.root,
    dotfiles: settings.dotfiles,
    cacheFileSize: limits.staticCacheFileSize,
    cacheBytes: limits.staticCacheBytes,
    statCacheMs: limits.statCacheMs,
    readChunk: limits.staticReadChunk,
  });
  const documentRoot = staticFiles.files.realRoot;
  const { launcher, note: launcherNote } = chooseLauncher(settings.cgiSpawn);

  const dispatch = (exchange: Exchange): void => {
    if (exchange.request.path === '*') {
      // RFC 9110 §9.3.7: "OPTIONS *" asks about the server as a whole.
      exchange.sendHead(204, [['Allow', SERVER_METHODS]], { kind: 'none' });
      return exchange.end();
    }
    const verdict = resolveRequestPath(documentRoot, exchange.request.path, { dotfiles: settings.dotfiles });
    if (verdict.kind === 'ok' && cgi.handle(exchange, verdict.segments)) return;
    staticFiles.serve(exchange, verdict);
  };

  const cgi: CgiHost = new CgiHost({
    documentRoot,
    routing: { dirs: settings.cgiDirs, extensions: settings.cgiExtensions },
    interpreters: settings.cgiInterpreters,
    stdoutMode: settings.cgiStdout,
    passEnv: settings.cgiPassEnv,
    limits,
    launcher,
    sendFile(exchange, path, _status, headers) {
      // lighttpd's cgi.x-sendfile: porta streams the file, with its own
      // conditional and range handling; only files under the root qualify.
      if (!staticFiles.files.inside(path)) return exchange.sendError(403, 'X-Sendfile outside the document root');
      staticFiles.serveFile(exchange, path, headers);
    },
    redirect(exchange, location) {
      const depth = exchange instanceof RedirectedExchange ? exchange.redirects : 0;
      if (depth >= limits.cgiMaxLocalRedirects) return exchange.sendError(500, 'too many local redirects');
      dispatch(new RedirectedExchange(exchange, location));
    },
  });

  return { staticFiles, cgi, launcher, launcherNote, dispatch };
}
