// Looking files up. stat and realpath run synchronously: on a local disk they
// cost a few µs, far less than a thread-pool round trip. Answers for files
// and folders that exist are reused for `statCacheMs` (nginx's open_file_cache
// does the same), so a changed file shows within that time; a missing one is
// looked for again on every request. The bytes of small files are kept, keyed
// by what stat says about them, so they always match the validators sent.

import { realpathSync, statSync, type Stats } from 'node:fs';
import { sep } from 'node:path';

export type Lookup =
  | { kind: 'file'; stat: Stats }
  | { kind: 'directory'; stat: Stats }
  | { kind: 'missing' }
  | { kind: 'forbidden' }; // outside the root through a symlink, or not readable

const MAX_REMEMBERED = 10_000;

export class Files {
  readonly realRoot: string;
  readonly #rootPrefix: string;
  readonly #ttlMs: number;
  readonly #remembered = new Map<string, { lookup: Lookup; until: number }>();

  constructor(root: string, ttlMs: number) {
    this.realRoot = realpathSync.native(root);
    this.#rootPrefix = this.realRoot.endsWith(sep) ? this.realRoot : this.realRoot + sep;
    this.#ttlMs = ttlMs;
  }

  lookup(fsPath: string): Lookup {
    if (this.#ttlMs <= 0) return this.#lookupNow(fsPath);
    const now = performance.now();
    const known = this.#remembered.get(fsPath);
    if (known !== undefined && known.until > now) return known.lookup;
    const lookup = this.#lookupNow(fsPath);
    // A missing file is asked again every time: one created a moment after a
    // 404 is served at once (nginx's open_file_cache_errors off).
    if (lookup.kind === 'missing') return lookup;
    if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.clear();
    this.#remembered.set(fsPath, { lookup, until: now + this.#ttlMs });
    return lookup;
  }

  #lookupNow(fsPath: string): Lookup {
    let stat: Stats | undefined;
    try {
      // No exception for the common "not there" case: throwing costs more than the stat.
      stat = statSync(fsPath, { throwIfNoEntry: false });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EACCES' ? { kind: 'forbidden' } : { kind: 'missing' };
    }
    if (stat === undefined) return { kind: 'missing' };
    if (!this.inside(fsPath)) return { kind: 'forbidden' };
    if (stat.isDirectory()) return { kind: 'directory', stat };
    if (stat.isFile()) return { kind: 'file', stat };
    return { kind: 'forbidden' }; // sockets, FIFOs, devices: never served
  }

  /** Every symlink on the way followed, is `fsPath` still under the root? */
  inside(fsPath: string): boolean {
    let real: string;
    try {
      real = realpathSync.native(fsPath);
    } catch {
      return false;
    }
    return real === this.realRoot || real.startsWith(this.#rootPrefix);
  }
}

interface CachedBody {
  key: string;
  body: Buffer;
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

  fits(stat: Stats): boolean {
    return stat.size <= this.#maxFileSize && this.#maxBytes > 0;
  }

  get(fsPath: string, stat: Stats): Buffer | undefined {
    const entry = this.#entries.get(fsPath);
    if (entry === undefined) return undefined;
    if (entry.key !== SmallFileCache.key(stat)) {
      this.#delete(fsPath, entry);
      return undefined;
    }
    return entry.body;
  }

  set(fsPath: string, stat: Stats, body: Buffer): void {
    // Only keep what matches the stat we will label it with.
    if (body.length !== stat.size || !this.fits(stat)) return;
    const old = this.#entries.get(fsPath);
    if (old !== undefined) this.#delete(fsPath, old);
    while (this.#bytes + body.length > this.#maxBytes && this.#entries.size > 0) {
      const [oldestPath, oldest] = this.#entries.entries().next().value as [string, CachedBody];
      this.#delete(oldestPath, oldest);
    }
    this.#entries.set(fsPath, { key: SmallFileCache.key(stat), body });
    this.#bytes += body.length;
  }

  #delete(fsPath: string, entry: CachedBody): void {
    this.#entries.delete(fsPath);
    this.#bytes -= entry.body.length;
  }
}
