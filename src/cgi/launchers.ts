// Picks how CGI programs are started: the posix_spawn addon when it was built
// (see native/), else child_process.spawn. `--cgi-spawn` forces one.

import type { CgiSpawnMethod } from '../config';
import type { Launcher } from './launcher';
import { childProcessLauncher } from './launch-node';
import { loadNativeLauncher } from './launch-native';

export interface LauncherChoice {
  launcher: Launcher;
  /** Why the preferred launcher was not used, if it was not. */
  note: string | null;
}

export function chooseLauncher(method: CgiSpawnMethod): LauncherChoice {
  if (method === 'child_process') return { launcher: childProcessLauncher, note: null };
  const native = loadNativeLauncher();
  if (native.launcher !== null) return { launcher: native.launcher, note: null };
  return {
    launcher: childProcessLauncher,
    note: `posix_spawn addon unavailable (${native.reason}); CGI uses child_process.spawn`,
  };
}
