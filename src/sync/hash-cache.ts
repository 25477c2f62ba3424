import { sep } from "node:path";
import { hashCache } from "../db/schema.ts";
import { cachedStatement } from "../db/statements.ts";
import type { Db } from "../db/store.ts";
import type { FileHash, Md5Pool } from "./md5-pool.ts";

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

type CacheRow = typeof hashCache.$inferSelect;

/**
 * Local MD5s remembered by path + size + mtime + inode (SPEC.md §6): a second audit of an
 * unchanged tree reads no file content. Lookups are one range query per folder; what the
 * workers hash is written back by `flush()` (in the caller's transaction, if it has one).
 */
export class HashCache {
  private readonly pending = new Map<string, CacheRow>();

  constructor(
    private readonly db: Db,
    readonly pool: Md5Pool,
  ) {}

  /** Cached rows of the files directly in `folder` (absolute), whether or not they still match the files. */
  lookupFolder(folder: string): Map<string, CacheRow> {
    const start = folder.endsWith(sep) ? folder : folder + sep;
    // A range over the primary key: every path that starts with `folder/` (the separator's successor ends it).
    const end = start.slice(0, -1) + String.fromCharCode(sep.charCodeAt(0) + 1);
    const rows = cachedStatement(
      this.db,
      `SELECT path, size_bytes AS sizeBytes, mtime_ms AS mtimeMs, ctime_ms AS ctimeMs, inode, md5 FROM hash_cache
       WHERE path >= ? AND path < ?`,
    ).all(start, end) as CacheRow[];
    return new Map(rows.map((row) => [row.path, row]));
  }

  /** The cached MD5 when `cached` still matches `stat` (nothing read), else undefined. */
  cachedMd5(stat: LocalFileStat, cached: CacheRow | undefined): LocalHash | undefined {
    if (!cached || !matches(cached, stat)) return undefined;
    return { md5: cached.md5, multipartEtags: {}, bytesRead: 0, ...stat, fromCache: true };
  }

  /**
   * The MD5 of the file at `path`, from the cache when `cached` still matches `stat`;
   * otherwise read through the pool. Asking for `partSizes` (multipart ETags) always
   * reads the file: the cache keeps only the whole-file MD5.
   */

  async md5Of(
    path: string,
    stat: LocalFileStat,
    cached: CacheRow | undefined,
    partSizes: readonly number[] = [],
  ): Promise<LocalHash> {
    const hit = partSizes.length === 0 ? this.cachedMd5(stat, cached) : undefined;
    if (hit) return hit;
    const hash = await this.pool.hash(path, partSizes);
    // Keyed by the stat of the descriptor that was read, taken before reading.
    this.pending.set(path, {
      path,
      sizeBytes: hash.size,
      mtimeMs: hash.mtimeMs,
      ctimeMs: hash.ctimeMs,
      inode: hash.inode,
      md5: hash.md5,
    });
    return { ...hash, fromCache: false };
  }

  /** Writes the MD5s hashed since the last flush. */
  flush(): void {
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending.clear();
    const upsert = cachedStatement(
      this.db,
      `INSERT INTO hash_cache (path, size_bytes, mtime_ms, ctime_ms, inode, md5)
       VALUES (@path, @sizeBytes, @mtimeMs, @ctimeMs, @inode, @md5)
       ON CONFLICT(path) DO UPDATE SET size_bytes = excluded.size_bytes, mtime_ms = excluded.mtime_ms,
         ctime_ms = excluded.ctime_ms, inode = excluded.inode, md5 = excluded.md5`,
    );
    this.db.$client.transaction(() => {
      for (const row of rows) upsert.run(row);
    })();
  }

  /** Drops cache rows of files that are gone (so a recreated file is never trusted by path alone). */
  forget(paths: readonly string[]): void {
    if (paths.length === 0) return;
    cachedStatement(this.db, `DELETE FROM hash_cache WHERE path IN (SELECT value FROM json_each(?))`).run(JSON.stringify(paths));
  }
}

function matches(row: CacheRow, stat: LocalFileStat): boolean {
  return (
    row.sizeBytes === stat.size && row.mtimeMs === stat.mtimeMs && row.ctimeMs === stat.ctimeMs && row.inode === stat.inode
  );
}
