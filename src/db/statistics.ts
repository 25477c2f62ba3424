import { sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { actors, generations, images, statsTotals } from "./schema.ts";
import { bare, cachedStatement, columnList, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

/**
 * Recomputes the per-actor statistics columns from the images rows and bumps the
 * actor's revision (so the exporter knows its manifests are stale). Every write of
 * images rows calls this inside the same transaction, which keeps the statistics
 * in step with the rows without a trigger on each insert.
 */
export function refreshActorStatistics(db: Db, actorIds: readonly number[]): void {
  if (actorIds.length === 0) return;
  const actorsStatement = cachedStatement(db, refreshSql);
  const generationsStatement = cachedStatement(db, refreshGenerationsSql);
  for (const actorId of actorIds) {
    actorsStatement.run({ actorId });
    generationsStatement.run({ actorId });
  }
}

/** Which images each status part of the figures counts, over `i` (the images table or an alias of it). */
export function imagesByStatus(i: { status: SQLiteColumn }) {
  return {
    synced: sql`${i.status} = 'synced'`,
    localOnly: sql`${i.status} = 'local_only'`,
    s3Only: sql`${i.status} = 's3_only'`,
    outOfSync: sql`${i.status} = 'out_of_sync'`,
    missing: sql`${i.status} = 'missing'`,
    unchecked: sql`${i.status} IS NULL`,
  };
}

/** Which images each rating part of the figures counts, over `i` (the images table or an alias of it). */
export function imagesByRating(i: { good: SQLiteColumn }) {
  return { good: sql`${i.good} = 1`, bad: sql`${i.good} = 0`, unrated: sql`${i.good} IS NULL` };
}

const countedImages = { ...imagesByStatus(images), ...imagesByRating(images) };

/** Which images each pair of statistics columns (count, bytes) counts; the first pair counts every image. */
const figureParts: [count: SQLiteColumn, bytes: SQLiteColumn, counted: SQL | null][] = [
  [actors.totalCount, actors.totalSizeBytes, null],
  ...(Object.keys(countedImages) as (keyof typeof countedImages)[]).map((name): [SQLiteColumn, SQLiteColumn, SQL] => [
    actors[`${name}Count` as const],
    actors[`${name}Bytes` as const],
    countedImages[name],
  ]),
];
const counts = figureParts.map(([count, , counted]) => [count, counted ? sql`coalesce(sum(${counted}), 0)` : sql`count(*)`] as const);
const bytes = figureParts.map(
  ([, column, counted]) =>
    [
      column,
      counted ? sql`coalesce(sum(CASE WHEN ${counted} THEN ${images.sizeBytes} END), 0)` : sql`coalesce(sum(${images.sizeBytes}), 0)`,
    ] as const,
);
const figures = [...counts, ...bytes];

const refreshSql = sqlText(sql`
UPDATE ${actors} SET
  ${bare(actors.revision)} = ${bare(actors.revision)} + 1,
  (${columnList(figures.map(([column]) => column))}) = (
    SELECT ${sql.join(
      figures.map(([, value]) => value),
      sql`, `,
    )}
    FROM ${images} WHERE ${images.actorId} = @actorId)
WHERE ${actors.id} = @actorId`);

// The actor_id prefix of the images index bounds each count to the actor's own rows.
const refreshGenerationsSql = sqlText(sql`
UPDATE ${generations} SET (${columnList([generations.imageRows, generations.imageBytes])}) = (
  SELECT count(*), coalesce(sum(${images.sizeBytes}), 0) FROM ${images}
  WHERE ${images.actorId} = @actorId AND ${images.generationId} = ${generations.id})
WHERE ${generations.actorId} = @actorId`);

const catalogueSizeText = sqlText(
  sql`SELECT ${statsTotals.actorCount} || ':' || ${statsTotals.totalCount} FROM ${statsTotals} WHERE ${statsTotals.grouping} = 'all'`,
);

/** How many actors and images there are, as `actors:images` (kept by triggers): changes whenever either does. */
export function catalogueSize(db: Db): string | undefined {
  return cachedStatement(db, catalogueSizeText).pluck().get() as string | undefined;
}
