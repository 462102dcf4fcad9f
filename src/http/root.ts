// The document root as porta sees it: what a path names on disk, and whether
// it is really inside the root with every symlink followed. One lookup,
// remembered for a moment, used by static files and CGI alike.
//
// stat and realpath run synchronously: on a local disk they cost a few µs,
// far less than a thread-pool round trip. Answers for files and folders that
// exist are reused for `ttlMs` (nginx's open_file_cache does the same); a
// missing one is looked for again on every request (nginx's
// open_file_cache_errors off). And because porta is a development server
// too, where a file is saved and the page reloaded at once, the folder of
// each remembered answer is watched (inotify, through fs.watch, as
// lighttpd's stat cache can be told to): every change in it forgets its answers
// at once. The kernel queues that event as the file is written, before the
// browser's next request can arrive, and the loop hears it first. Past
// MAX_WATCHED folders, or where a folder cannot be watched, `ttlMs` bounds
// how stale an answer can be.

import { type FSWatcher, realpathSync, type Stats, statSync, watch } from 'node:fs';
import { dirname, sep } from 'node:path';
import { type FsPath, pathKey } from './path';

export type Lookup =
  | { kind: 'file'; stat: Stats }
  | { kind: 'directory'; stat: Stats }
  | { kind: 'missing' }
  | { kind: 'forbidden' }; // outside the root through a symlink, not readable, or not a file or folder

const MAX_REMEMBERED = 10_000;
/** Folders watched at once: one inotify watch each (the kernel's default allows 8,192 per user). */
const MAX_WATCHED = 256;

export class DocumentRoot {
  /** The root with every symlink resolved. */
  readonly realRoot: string;
  readonly #prefix: string;
  readonly #prefixBytes: Buffer;
  readonly #ttlMs: number;
  readonly #remembered = new Map<string, { lookup: Lookup; until: number }>();
  /** Watched folders, each with the keys remembered in it (forgotten together at a change). */
  readonly #folders = new Map<string, { watcher: FSWatcher | null; keys: Set<string> }>();

  constructor(root: string, ttlMs: number) {
    this.realRoot = realpathSync.native(root);
    this.#prefix = this.realRoot.endsWith(sep) ? this.realRoot : this.realRoot + sep;
    this.#prefixBytes = Buffer.from(this.#prefix, 'utf8');
    this.#ttlMs = ttlMs;
  }

  lookup(fsPath: FsPath): Lookup {
    if (this.#ttlMs <= 0) return this.#lookupNow(fsPath);
    const now = performance.now();
    const key = pathKey(fsPath);
    const known = this.#remembered.get(key);
    if (known !== undefined && known.until > now) return known.lookup;
    const lookup = this.#lookupNow(fsPath);
    // A missing file is asked for again every time: one created a moment after
    // a 404 is served at once.
    if (lookup.kind === 'missing') return lookup;
    if (this.#remembered.size >= MAX_REMEMBERED) {
      this.#remembered.clear();
      for (const folder of this.#folders.values()) folder.keys.clear();
    }
    this.#remembered.set(key, { lookup, until: now + this.#ttlMs });
    if (typeof fsPath === 'string') this.#watchFolderOf(fsPath, key);
    return lookup;
  }

  /** Look `fsPath` up afresh next time (it was found changed). */
  forget(fsPath: FsPath): void {
    this.#remembered.delete(pathKey(fsPath));
  }

  /** The server stops: no folder is watched any more. */
  close(): void {
    for (const folder of this.#folders.values()) folder.watcher?.close();
    this.#folders.clear();
  }

  /**
   * Remember `key` under its folder, watched from now on. (A path given as
   * bytes, not UTF-8, is left to the time bound: fs.watch takes strings.)
   */
  #watchFolderOf(fsPath: string, key: string): void {
    const dir = dirname(fsPath);
    let folder = this.#folders.get(dir);
    if (folder === undefined) {
      if (this.#folders.size >= MAX_WATCHED) return;
      folder = { watcher: null, keys: new Set() };
      this.#folders.set(dir, folder);
      const keys = folder.keys;
      const changed = (): void => {
        for (const k of keys) this.#remembered.delete(k);
        keys.clear();
      };
      try {
        const watcher = watch(dir, { persistent: false }, changed);
        // The folder went (or the watch failed): its answers are forgotten, and the next lookup watches again.
        watcher.on('error', () => {
          changed();
          watcher.close();
          if (this.#folders.get(dir)?.watcher === watcher) this.#folders.delete(dir);
        });
        folder.watcher = watcher;
      } catch {
        // Not watchable (no inotify watches left, a folder on a file system without
        // events): kept in the map with no watcher, so the time bound alone applies.
      }
    }
    folder.keys.add(key);
  }

  #lookupNow(fsPath: FsPath): Lookup {
    let stat: Stats | undefined;
    try {
      // No exception for the common "not there" case: throwing costs more than the stat.
      stat = statSync(fsPath, { throwIfNoEntry: false });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EACCES' ? { kind: 'forbidden' } : { kind: 'missing' };
    }
    if (stat === undefined) return { kind: 'missing' };
    if (!this.contains(fsPath)) return { kind: 'forbidden' };
    if (stat.isDirectory()) return { kind: 'directory', stat };
    if (stat.isFile()) return { kind: 'file', stat };
    return { kind: 'forbidden' }; // sockets, FIFOs, devices: never served
  }

  /**
   * The containment check, the only one: with every symlink on the way
   * followed, is `fsPath` still the root or under it? A path that does not
   * resolve is not.
   */
  contains(fsPath: FsPath): boolean {
    try {
      if (typeof fsPath === 'string') {
        const real = realpathSync.native(fsPath);
        return real === this.realRoot || real.startsWith(this.#prefix);
      }
      const real = realpathSync.native(fsPath, { encoding: 'buffer' });
      return real.subarray(0, this.#prefixBytes.length).equals(this.#prefixBytes);
    } catch {
      return false;
    }
  }
}
