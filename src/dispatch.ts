// Which handler answers a request: a CGI program or a static file. The choice
// is made on the decoded, normalised path, by the same function that static
// files use, so no encoding trick can route around it.

import type { Settings } from './config';
import type { Exchange } from './http/exchange';
import { StaticFiles } from './static/serve';
import type { Dispatch } from './net/connection';

export interface Handlers {
  staticFiles: StaticFiles;
  dispatch: Dispatch;
}

export function createHandlers(settings: Settings): Handlers {
  const staticFiles = new StaticFiles({
    root: settings.root,
    dotfiles: settings.dotfiles,
    cacheFileSize: settings.limits.staticCacheFileSize,
    cacheBytes: settings.limits.staticCacheBytes,
  });
  const dispatch = (exchange: Exchange): void => {
    staticFiles.serve(exchange);
  };
  return { staticFiles, dispatch };
}
