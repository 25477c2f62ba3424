import { actorColumns, actorWhere, type ActorFilter } from "./actor-queries.ts";
import type { ActorRow, SyncStatus } from "./schema.ts";
import { cachedStatement, type SqlFragment } from "./statements.ts";
import type { Db } from "./store.ts";

export interface Totals {
  actorCount: number;
  imageCount: number;
  totalSizeBytes: number;
  syncedCount: number;
  localOnlyCount: number;
  s3OnlyCount: number;
  outOfSyncCount: number;
  missingCount: number;
  uncheckedCount: number;
  goodCount: number;
  badCount: number;
  unratedCount: number;
  /** Actors with at least one image and every image synced. */
  fullySyncedActorCount: number;
}

/** Totals over the actors a filter picks, from the per-actor statistics columns (no image scan). */
export function actorTotals(db: Db, filter: ActorFilter | undefined): Totals {
  return cachedUntilWrite(db, `totals:${JSON.stringify(filter ?? {})}`, () => computeActorTotals(db, filter));
}

function computeActorTotals(db: Db, filter: ActorFilter | undefined): Totals {
  const where = actorWhere(filter);
  const sql = `SELECT count(*) AS actorCount, total(a.total_count) AS imageCount, total(a.total_size_bytes) AS totalSizeBytes,
      total(a.synced_count) AS syncedCount, total(a.local_only_count) AS localOnlyCount, total(a.s3_only_count) AS s3OnlyCount,
      total(a.out_of_sync_count) AS outOfSyncCount, total(a.missing_count) AS missingCount,
      total(a.unchecked_count) AS uncheckedCount, total(a.good_count) AS goodCount, total(a.bad_count) AS badCount,
      total(a.unrated_count) AS unratedCount,
      total(a.total_count > 0 AND a.synced_count = a.total_count) AS fullySyncedActorCount
    FROM actors a WHERE ${where.sql}`;
  return cachedStatement(db, sql).get(...where.params) as Totals;
}

export interface GroupRow {
  key: string | null;
  actorCount: number;
  imageCount: number;
  goodCount: number;
  badCount: number;
  unratedCount: number;
  totalSizeBytes: number;
}

export type ActorGrouping = "descriptor" | "gender" | "ageBand";

// Ten-year bands ("30-39") read better than single ages across a few hundred actors.
const groupExpression: Record<ActorGrouping, string> = {
  descriptor: "a.descriptor",
  gender: "a.gender",
  ageBand: "CASE WHEN a.age IS NULL THEN NULL ELSE (a.age / 10 * 10) || '-' || (a.age / 10 * 10 + 9) END",
};

/** Actors and their image counts grouped by a name part, largest group first. */
export function groupActors(db: Db, filter: ActorFilter | undefined, grouping: ActorGrouping): GroupRow[] {
  return cachedUntilWrite(db, `group:${grouping}:${JSON.stringify(filter ?? {})}`, () => computeGroups(db, filter, grouping));
}

function computeGroups(db: Db, filter: ActorFilter | undefined, grouping: ActorGrouping): GroupRow[] {
  const where = actorWhere(filter);
  const sql = `SELECT ${groupExpression[grouping]} AS key, count(*) AS actorCount, total(a.total_count) AS imageCount,
      total(a.good_count) AS goodCount, total(a.bad_count) AS badCount, total(a.unrated_count) AS unratedCount,
      total(a.total_size_bytes) AS totalSizeBytes
    FROM actors a WHERE ${where.sql} GROUP BY 1 ORDER BY actorCount DESC, key`;
  return cachedStatement(db, sql).all(...where.params) as GroupRow[];
}

export interface StatusBytesRow {
  status: SyncStatus | null;
  imageCount: number;
  sizeBytes: number;
}

export interface GenerationTypeRow {
  type: string;
  actorCount: number;
  generationCount: number;
  imageCount: number;
  sizeBytes: number;
}

export interface ImageAggregates {
  byStatus: StatusBytesRow[];
  byGenerationType: GenerationTypeRow[];
}

interface CachedFigure {
  version: string;
  value: unknown;
}

const figureCaches = new WeakMap<object, Map<string, CachedFigure>>();

/**
 * Aggregates across actors are cached per connection and query, and recomputed after any
 * write: `total_changes()` moves with every write on this connection and
 * `PRAGMA data_version` with every commit from another. Callers must not mutate the value.
 */
function cachedUntilWrite<T>(db: Db, key: string, compute: () => T): T {
  const version = dataVersion(db);
  let cache = figureCaches.get(db.$client);
  if (!cache) figureCaches.set(db.$client, (cache = new Map()));
  const hit = cache.get(key);
  if (hit && hit.version === version) return hit.value as T;
  const value = compute();
  if (cache.size > 256) cache.clear();
  cache.set(key, { version, value });
  return value;
}

/** Bytes by status and images by generation type, from the per-actor and per-generation statistics (no image scan). */
export function imageAggregates(db: Db, filter: ActorFilter | undefined): ImageAggregates {
  return cachedUntilWrite(db, `images:${JSON.stringify(filter ?? {})}`, () => computeImageAggregates(db, filter));
}

function dataVersion(db: Db): string {
  const row = cachedStatement(db, "SELECT total_changes() AS changes").get() as { changes: number };
  const pragma = cachedStatement(db, "PRAGMA data_version").get() as { data_version: number };
  return `${pragma.data_version}:${row.changes}`;
}

function actorScope(filter: ActorFilter | undefined, column: string): SqlFragment {
  if (!filter) return { sql: "1", params: [] };
  const where = actorWhere(filter);
  return { sql: `${column} IN (SELECT a.id FROM actors a WHERE ${where.sql})`, params: where.params };
}

const statusColumns: [SyncStatus | null, string, string][] = [
  ["synced", "synced_count", "synced_bytes"],
  ["local_only", "local_only_count", "local_only_bytes"],
  ["s3_only", "s3_only_count", "s3_only_bytes"],
  ["out_of_sync", "out_of_sync_count", "out_of_sync_bytes"],
  ["missing", "missing_count", "missing_bytes"],
  [null, "unchecked_count", "unchecked_bytes"],
];

function computeImageAggregates(db: Db, filter: ActorFilter | undefined): ImageAggregates {
  const where = actorWhere(filter);
  const sums = cachedStatement(
    db,
    `SELECT ${statusColumns.map(([, count, bytes]) => `total(a.${count}) AS ${count}, total(a.${bytes}) AS ${bytes}`).join(", ")}
     FROM actors a WHERE ${where.sql}`,
  ).get(...where.params) as Record<string, number>;
  const byStatus = statusColumns
    .map(([status, count, bytes]) => ({ status, imageCount: sums[count] ?? 0, sizeBytes: sums[bytes] ?? 0 }))
    .filter((row) => row.imageCount > 0)
    .sort((a, b) => b.imageCount - a.imageCount);
  const generationScope = actorScope(filter, "g.actor_id");
  const byGenerationType = cachedStatement(
    db,
    `SELECT g.type AS type, count(DISTINCT g.actor_id) AS actorCount, count(*) AS generationCount,
       total(g.image_rows) AS imageCount, total(g.image_bytes) AS sizeBytes
     FROM generations g WHERE ${generationScope.sql} GROUP BY g.type ORDER BY imageCount DESC, type`,
  ).all(...generationScope.params) as GenerationTypeRow[];
  return { byStatus, byGenerationType };
}

/** Actors with fewer than `threshold` good images: fewest first, then by name. */
export function actorsBelowGoodCount(
  db: Db,
  filter: ActorFilter | undefined,
  threshold: number,
  limit: number,
): { count: number; actors: ActorRow[] } {
  return cachedUntilWrite(db, `below:${threshold}:${limit}:${JSON.stringify(filter ?? {})}`, () => {
    const where = actorWhere(filter);
    const count = (
      cachedStatement(db, `SELECT count(*) AS n FROM actors a WHERE (${where.sql}) AND a.good_count < ?`).get(...where.params, threshold) as {
        n: number;
      }
    ).n;
    const actors = cachedStatement(
      db,
      `SELECT ${actorColumns} FROM actors a WHERE (${where.sql}) AND a.good_count < ? ORDER BY a.good_count, a.name LIMIT ?`,
    ).all(...where.params, threshold, limit) as ActorRow[];
    return { count, actors };
  });
}
