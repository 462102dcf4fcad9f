// The bytes of small files, kept in memory and keyed by what stat says about
// them (device, inode, size, mtime, ctime), so what is served always matches
// the validators sent with it. Where files are looked up: http/root.ts.

import type { Stats } from 'node:fs';
import { type FsPath, pathKey } from '../http/path';

interface CachedBody {
  key: string;
  body: Buffer;
  /** The Stats last found to match `key`: the same object again (a remembered lookup) needs no key built. */
  stat: Stats;
}

/**
 * Bodies of small files, so the common request is answered without touching
 * the thread pool. Bounded by count of bytes; oldest entries go first.
 */
export class SmallFileCache {
  readonly #maxFileSize: number;
  readonly #maxBytes: number;
  #bytes = 0;
  readonly #entries = new Map<string, CachedBody>();

  constructor(maxFileSize: number, maxBytes: number) {
    this.#maxFileSize = maxFileSize;
    this.#maxBytes = maxBytes;
  }

  static key(stat: Stats): string {
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  }

  /** Whether two stats describe the same version of a file (what key() compares, without the string). */
  static sameVersion(a: Stats, b: Stats): boolean {
    return (
      a === b ||
      (a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs)
    );
  }

  fits(stat: Stats): boolean {
    return stat.size <= this.#maxFileSize && this.#maxBytes > 0;
  }

  /** Whether get() would answer from memory (without forgetting a stale entry: the trace asks). */
  has(fsPath: FsPath, stat: Stats): boolean {
    const entry = this.#entries.get(pathKey(fsPath));
    return entry !== undefined && (entry.stat === stat || entry.key === SmallFileCache.key(stat));
  }

  get(fsPath: FsPath, stat: Stats): Buffer | undefined {
    const path = pathKey(fsPath);
    const entry = this.#entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.stat === stat) return entry.body;
    if (entry.key !== SmallFileCache.key(stat)) {
      this.#delete(path, entry);
      return undefined;
    }
    entry.stat = stat;
    return entry.body;
  }

  set(fsPath: FsPath, stat: Stats, body: Buffer): void {
    const path = pathKey(fsPath);
    // Only keep what matches the stat we will label it with.
    if (body.length !== stat.size || !this.fits(stat)) return;
    const old = this.#entries.get(path);
    if (old !== undefined) this.#delete(path, old);
    while (this.#bytes + body.length > this.#maxBytes && this.#entries.size > 0) {
      const [oldestPath, oldest] = this.#entries.entries().next().value as [string, CachedBody];
      this.#delete(oldestPath, oldest);
    }
    this.#entries.set(path, { key: SmallFileCache.key(stat), body, stat });
    this.#bytes += body.length;
  }

  #delete(path: string, entry: CachedBody): void {
    this.#entries.delete(path);
    this.#bytes -= entry.body.length;
  }
}
