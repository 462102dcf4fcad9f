// The sendfile(2) half of the native addon (native/porta_spawn.c, the same
// .node file the CGI launcher loads): a static file's body goes from the page
// cache to the client socket without passing through JavaScript. Loaded once,
// lazily; when the addon is missing (not built, not Linux, an older build)
// static files stream as before and `reason` says why.

import { createRequire } from 'node:module';
import { join } from 'node:path';

/** An opaque handle on one transfer, for cancelling it. */
export type SendfileJob = { readonly __sendfileJob: unique symbol };

/** How a transfer ended: null when every byte went out; else why not (err.code: EPIPE, ECONNRESET, ETIMEDOUT, EOF…). */
export type SendfileDone = (err: (Error & { code?: string }) | null, sent: number) => void;

export interface SendfileAddon {
  /**
   * Send `length` bytes of `fileFd` from `offset` to `socketFd`, on the event
   * loop, whenever the socket can take more (at most `turnBytes` a turn).
   * Both fds are borrowed for this call only: the addon duplicates them before
   * it returns and closes its duplicates when the job ends. Fails with
   * ETIMEDOUT when no byte went out for `timeoutMs`. `onDone` runs once, on a
   * later turn, unless the job is cancelled first.
   */
  sendfile(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    timeoutMs: number,
    turnBytes: number,
    onDone: SendfileDone,
  ): SendfileJob;
  /** Stop the job (its duplicates closed, onDone never called): the bytes sent so far. */
  sendfileCancel(job: SendfileJob): number;
}

// build/src/static/sendfile.js → <package>/native/build/Release/porta_spawn.node
const addonPath = join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'porta_spawn.node');

export type SendfileLoad = { addon: SendfileAddon; reason: null } | { addon: null; reason: string };

let loaded: SendfileLoad | null = null;

/** The addon's sendfile functions, or why there are none (then static files stream). */
export function loadSendfile(): SendfileLoad {
  loaded ??= load();
  return loaded;
}

function load(): SendfileLoad {
  if (process.platform !== 'linux') return { addon: null, reason: 'not Linux' };
  try {
    const addon = createRequire(__filename)(addonPath) as Partial<SendfileAddon>;
    if (typeof addon.sendfile !== 'function' || typeof addon.sendfileCancel !== 'function') {
      return { addon: null, reason: 'an older build of the addon without sendfile: run make build' };
    }
    return { addon: addon as SendfileAddon, reason: null };
  } catch (err) {
    return { addon: null, reason: (err as Error).message.split('\n')[0] ?? 'load failed' };
  }
}
