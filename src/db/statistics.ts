import { sql } from "drizzle-orm";
import { statsTotals } from "./schema.ts";
import { cachedStatement, sqlText } from "./statements.ts";
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

const refreshSql = `
UPDATE actors SET
  revision = revision + 1,
  (total_count, synced_count, local_only_count, s3_only_count, out_of_sync_count, missing_count,
   unchecked_count, good_count, bad_count, unrated_count, total_size_bytes,
   synced_bytes, local_only_bytes, s3_only_bytes, out_of_sync_bytes, missing_bytes, unchecked_bytes,
   good_bytes, bad_bytes, unrated_bytes) = (
    SELECT count(*),
      coalesce(sum(status = 'synced'), 0), coalesce(sum(status = 'local_only'), 0),
      coalesce(sum(status = 's3_only'), 0), coalesce(sum(status = 'out_of_sync'), 0),
      coalesce(sum(status = 'missing'), 0), coalesce(sum(status IS NULL), 0),
      coalesce(sum(good = 1), 0), coalesce(sum(good = 0), 0), coalesce(sum(good IS NULL), 0),
      coalesce(sum(size_bytes), 0),
      coalesce(sum(CASE WHEN status = 'synced' THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN status = 'local_only' THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN status = 's3_only' THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN status = 'out_of_sync' THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN status = 'missing' THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN status IS NULL THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN good = 1 THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN good = 0 THEN size_bytes END), 0),
      coalesce(sum(CASE WHEN good IS NULL THEN size_bytes END), 0)
    FROM images WHERE actor_id = @actorId)
WHERE id = @actorId;
`;

// The actor_id prefix of the images index bounds each count to the actor's own rows.
const refreshGenerationsSql = `
UPDATE generations SET (image_rows, image_bytes) = (
  SELECT count(*), coalesce(sum(size_bytes), 0) FROM images
  WHERE images.actor_id = @actorId AND images.generation_id = generations.id)
WHERE actor_id = @actorId`;

const catalogueSizeText = sqlText(
  sql`SELECT ${statsTotals.actorCount} || ':' || ${statsTotals.totalCount} FROM ${statsTotals} WHERE ${statsTotals.grouping} = 'all'`,
);

/** How many actors and images there are, as `actors:images` (kept by triggers): changes whenever either does. */
export function catalogueSize(db: Db): string | undefined {
  return cachedStatement(db, catalogueSizeText).pluck().get() as string | undefined;
}
