import { forgetHashCacheRows, writeHashCacheRows, type HashCacheRow } from "../../db/hash-cache-rows.ts";
import type { Db } from "../../db/store.ts";
import type { FileHash, Md5Pool } from "./md5-pool.ts";
import { stampedNear } from "./folder-digest.mjs";

/**
 * The identity of a file's content as far as stat can tell: same path, size, mtime and inode
 * (SPEC.md §6), and ctime, which moves on an in-place edit even when the mtime is set back.
 */
export interface LocalFileStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  inode: number;
}

export interface LocalHash extends FileHash {
  /** True when the MD5 came from the cache and no byte of the file was read. */
  fromCache: boolean;
}

/** A hash_cache row as read joined with the images (see loadActorForAudit): all null when there is none. */
export interface CachedMd5 {
  cacheSize: number | null;
  cacheMtimeMs: number | null;
  cacheCtimeMs: number | null;
  cacheInode: number | null;
  cacheMd5: string | null;
}

/**
 * Local MD5s remembered by path + size + mtime + inode (SPEC.md §6): a second audit of an
 * unchanged tree reads no file content. The cached rows are read with the images (see
 * loadActorForAudit); what the workers hash is written back by `flush()` (in the caller's
 * transaction, if it has one).
 */
export class HashCache {
  private readonly pending = new Map<string, HashCacheRow>();

  constructor(
    private readonly db: Db,
    readonly pool: Md5Pool,
    /** The data directory: no folder from it down to a file hashed may be a link. */
    private readonly root: string,
  ) {}

  /** The cached MD5 when `cached` still matches `stat` (nothing read), else undefined. */
  cachedMd5(stat: LocalFileStat, cached: CachedMd5 | null | undefined): LocalHash | undefined {
    if (!cached?.cacheMd5 || !matches(cached, stat)) return undefined;
    return { md5: cached.cacheMd5, multipartEtags: {}, bytesRead: 0, ...stat, fromCache: true };
  }

  /**
   * The MD5 of the file at `path`, from the cache when `cached` still matches `stat`;
   * otherwise read through the pool. Asking for `partSizes` (multipart ETags) always
   * reads the file: the cache keeps only the whole-file MD5.
   */
  async md5Of(
    path: string,
    stat: LocalFileStat,
    cached: CachedMd5 | null | undefined,
    partSizes: readonly number[] = [],
  ): Promise<LocalHash> {
    const hit = partSizes.length === 0 ? this.cachedMd5(stat, cached) : undefined;
    if (hit) return hit;
    const startedAt = Date.now();
    const hash = await this.pool.hash(this.root, path, partSizes);
    // Racily clean (git's rule, SPEC.md §6): a file stamped within the timestamp granularity of
    // its hashing could change again under the same stat, so its MD5 is not remembered.
    const local: LocalHash = Object.assign(hash, { fromCache: false });
    if (!stampedNear(hash, startedAt)) this.remember(path, hash);
    return local;
  }

  /** Keeps `hash` of the file at `path` for the next flush, keyed by the stat of the descriptor that was read (taken before reading). */
  remember(path: string, hash: FileHash): void {
    this.pending.set(path, {
      path,
      sizeBytes: hash.size,
      mtimeMs: hash.mtimeMs,
      ctimeMs: hash.ctimeMs,
      inode: hash.inode,
      md5: hash.md5,
    });
  }

  /** Writes the MD5s hashed since the last flush. */
  flush(): void {
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending.clear();
    writeHashCacheRows(this.db, rows);
  }

  /** Drops cache rows of files that are gone (so a recreated file is never trusted by path alone). */
  forget(paths: readonly string[]): void {
    if (paths.length === 0) return;
    forgetHashCacheRows(this.db, paths);
  }
}

/** The stat a cached MD5 was taken under, or null when there is none. */
export function cachedStat(row: CachedMd5): LocalFileStat | null {
  if (!row.cacheMd5) return null;
  return { size: row.cacheSize!, mtimeMs: row.cacheMtimeMs!, ctimeMs: row.cacheCtimeMs!, inode: row.cacheInode! };
}

function matches(row: CachedMd5, stat: LocalFileStat): boolean {
  return (
    row.cacheSize === stat.size && row.cacheMtimeMs === stat.mtimeMs && row.cacheCtimeMs === stat.ctimeMs && row.cacheInode === stat.inode
  );
}
