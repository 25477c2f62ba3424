/** The hash_cache table: local MD5s by path + size + mtime + ctime + inode (read with the images, see loadActorForAudit). */
import { sql } from "drizzle-orm";
import { hashCache } from "./schema.ts";
import { bare, cachedStatement, jsonList, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

export type HashCacheRow = typeof hashCache.$inferSelect;

const upsertText = sqlText(sql`INSERT INTO ${hashCache} (${bare(hashCache.path)}, ${bare(hashCache.sizeBytes)}, ${bare(hashCache.mtimeMs)},
    ${bare(hashCache.ctimeMs)}, ${bare(hashCache.inode)}, ${bare(hashCache.md5)})
  VALUES (@path, @sizeBytes, @mtimeMs, @ctimeMs, @inode, @md5)
  ON CONFLICT(${bare(hashCache.path)}) DO UPDATE SET ${bare(hashCache.sizeBytes)} = excluded.${bare(hashCache.sizeBytes)},
    ${bare(hashCache.mtimeMs)} = excluded.${bare(hashCache.mtimeMs)}, ${bare(hashCache.ctimeMs)} = excluded.${bare(hashCache.ctimeMs)},
    ${bare(hashCache.inode)} = excluded.${bare(hashCache.inode)}, ${bare(hashCache.md5)} = excluded.${bare(hashCache.md5)}`);

/** Writes the rows in one transaction (nested in the caller's, if it has one). */
export function writeHashCacheRows(db: Db, rows: readonly HashCacheRow[]): void {
  const upsert = cachedStatement(db, upsertText);
  db.$client.transaction(() => {
    for (const row of rows) upsert.run(row);
  })();
}

const forgetText = sqlText(sql`DELETE FROM ${hashCache} WHERE ${hashCache.path} IN (SELECT value FROM json_each(?))`);

export function forgetHashCacheRows(db: Db, paths: readonly string[]): void {
  cachedStatement(db, forgetText).run(jsonList(paths));
}
