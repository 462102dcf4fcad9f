// The document root as porta sees it: what a path names on disk, and whether
// it is really inside the root with every symlink followed. One lookup,
// remembered for a moment, used by static files and CGI alike.
//
// stat and realpath run synchronously: on a local disk they cost a few µs,
// far less than a thread-pool round trip. Answers for files and folders that
// exist are reused for `ttlMs` (nginx's open_file_cache does the same), so a
// changed file shows within that time; a missing one is looked for again on
// every request (nginx's open_file_cache_errors off).

import { realpathSync, type Stats, statSync } from 'node:fs';
import { sep } from 'node:path';
import { type FsPath, pathKey } from './path';

export type Lookup =
  | { kind: 'file'; stat: Stats }
  | { kind: 'directory'; stat: Stats }
  | { kind: 'missing' }
  | { kind: 'forbidden' }; // outside the root through a symlink, not readable, or not a file or folder

const MAX_REMEMBERED = 10_000;

export class DocumentRoot {
  /** The root with every symlink resolved. */
  readonly realRoot: string;
  readonly #prefix: string;
  readonly #prefixBytes: Buffer;
  readonly #ttlMs: number;
  readonly #remembered = new Map<string, { lookup: Lookup; until: number }>();

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
    if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.clear();
    this.#remembered.set(key, { lookup, until: now + this.#ttlMs });
    return lookup;
  }

  /** Look `fsPath` up afresh next time (it was found changed). */
  forget(fsPath: FsPath): void {
    this.#remembered.delete(pathKey(fsPath));
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
