// Picks how CGI programs are started: the spawn addon when it was built (see
// native/), else child_process.spawn. `--cgi-spawn` forces one.

import type { CgiSpawnMethod } from '../config';
import type { Launcher } from './launcher';
import { loadNativeLauncher } from './launch-native';
import { childProcessLauncher } from './launch-node';
import type { UserLookup } from './user';

export interface LauncherChoice {
  launcher: Launcher;
  /** Why the preferred launcher was not used, if it was not. */
  note: string | null;
  /** getpwnam through the addon, when it is there (else /etc/passwd is read). */
  lookupUser: UserLookup;
}

export function chooseLauncher(method: CgiSpawnMethod): LauncherChoice {
  const native = loadNativeLauncher();
  const lookupUser: UserLookup = native.addon === null ? () => null : (name) => native.addon.lookupUser(name);
  if (method === 'child_process') return { launcher: childProcessLauncher, note: null, lookupUser };
  if (native.launcher !== null) return { launcher: native.launcher, note: null, lookupUser };
  return {
    launcher: childProcessLauncher,
    note: `spawn addon unavailable (${native.reason}); CGI uses child_process.spawn`,
    lookupUser,
  };
}
