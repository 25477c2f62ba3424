/** The hash_cache table: local MD5s by path + size + mtime + ctime + inode (read with the images, see loadActorForAudit). */
import { getTableColumns, sql } from "drizzle-orm";
import { hashCache } from "./schema.ts";
import { bare, cachedStatement, columnList, jsonList, setExcluded, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

export type HashCacheRow = typeof hashCache.$inferSelect;

const cacheColumns = getTableColumns(hashCache);
const { path, ...cacheKeyed } = cacheColumns;
const cacheProperties = Object.keys(cacheColumns) as (keyof HashCacheRow)[];
// Bound by position: a cold audit writes a row per file (see assignPositional).
const upsertText =
  sqlText(sql`INSERT INTO ${hashCache} (${columnList(Object.values(cacheColumns))}) VALUES (${sql.raw(cacheProperties.map(() => "?").join(", "))})
  ON CONFLICT(${bare(path)}) DO UPDATE SET ${setExcluded(Object.values(cacheKeyed))}`);

/** Writes the rows in one transaction (nested in the caller's, if it has one). */
export function writeHashCacheRows(db: Db, rows: readonly HashCacheRow[]): void {
  const upsert = cachedStatement(db, upsertText);
  db.$client.transaction(() => {
    for (const row of rows) upsert.run(cacheProperties.map((property) => row[property]));
  })();
}

const forgetText = sqlText(sql`DELETE FROM ${hashCache} WHERE ${hashCache.path} IN (SELECT value FROM json_each(?))`);

export function forgetHashCacheRows(db: Db, paths: readonly string[]): void {
  cachedStatement(db, forgetText).run(jsonList(paths));
}
