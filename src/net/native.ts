// The native addon's socket half (native/accept.c): what Node's net.Socket
// cannot say or do. Loaded once; where the addon is missing (not built, not
// Linux) each function is null and the caller does as Node alone would.

import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface NetAddon {
  /** Up to `max` connections waiting on a listening fd: new fds (CLOEXEC, non-blocking) the caller owns. */
  acceptMany(listenFd: number, max: number): number[];
  /** Has the peer reset this connected socket (poll(2) says HUP or ERR)? Reads nothing. */
  socketReset(fd: number): boolean;
}

// build/src/net/native.js → <package>/native/build/Release/porta_spawn.node
const addonPath = join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'porta_spawn.node');

let loaded: NetAddon | null | undefined;

export function loadNetAddon(): NetAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== 'linux') return loaded;
  try {
    const addon = createRequire(__filename)(addonPath) as Partial<NetAddon>;
    if (typeof addon.acceptMany === 'function' && typeof addon.socketReset === 'function') {
      loaded = addon as NetAddon;
    }
  } catch {
    // No addon: CGI and sendfile say so at start-up; the net layer just does without.
  }
  return loaded;
}
