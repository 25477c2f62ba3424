import type { Db } from "./store.ts";

/**
 * Recomputes the per-actor statistics columns from the images rows and bumps the
 * actor's revision (so the exporter knows its manifests are stale). Every write of
 * images rows calls this inside the same transaction, which keeps the statistics
 * in step with the rows without a trigger on each insert.
 */
export function refreshActorStatistics(db: Db, actorIds: readonly number[]): void {
  if (actorIds.length === 0) return;
  let statement = refreshStatements.get(db.$client);
  if (!statement) {
    statement = db.$client.prepare(refreshSql);
    refreshStatements.set(db.$client, statement);
  }
  for (const actorId of actorIds) statement.run({ actorId });
}

/** One prepared statement per connection: preparing it per call showed in the import's profile. */
const refreshStatements = new WeakMap<Db["$client"], ReturnType<Db["$client"]["prepare"]>>();

const refreshSql = `
UPDATE actors SET
  revision = revision + 1,
  (total_count, synced_count, local_only_count, s3_only_count, out_of_sync_count, missing_count,
   unchecked_count, good_count, bad_count, unrated_count, total_size_bytes) = (
    SELECT count(*),
      coalesce(sum(status = 'synced'), 0), coalesce(sum(status = 'local_only'), 0),
      coalesce(sum(status = 's3_only'), 0), coalesce(sum(status = 'out_of_sync'), 0),
      coalesce(sum(status = 'missing'), 0), coalesce(sum(status IS NULL), 0),
      coalesce(sum(good = 1), 0), coalesce(sum(good = 0), 0), coalesce(sum(good IS NULL), 0),
      coalesce(sum(size_bytes), 0)
    FROM images WHERE actor_id = @actorId)
WHERE id = @actorId`;
