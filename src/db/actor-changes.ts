/**
 * The shared log of actor changes (SPEC.md §7, several processes): every process appends a
 * row when it changes an actor; a running server follows the rows other processes wrote and
 * publishes them to its `actorChanged` subscribers.
 */
import { and, asc, gt, lt, ne, sql } from "drizzle-orm";
import { actorChanges, type ActorChangeRow } from "./schema.ts";
import type { Db } from "./store.ts";

/** How long a row is kept: a follower polls every fraction of a second, so this is ample. */
export const actorChangeKeepMs = 60 * 60_000;

export function appendActorChange(
  db: Db,
  change: { actorId: number | null; name: string; reason: string; jobId: number | null; ownerId: string },
  at = Date.now(),
): void {
  db.insert(actorChanges)
    .values({ ...change, at })
    .run();
}

/** The id of the newest row (0 for none): a follower starts after it. */
export function lastActorChangeId(db: Db): number {
  return db
    .select({ id: sql<number>`coalesce(max(${actorChanges.id}), 0)` })
    .from(actorChanges)
    .get()!.id;
}

/** Rows after `afterId` that another owner than `ownerId` wrote, oldest first. */
export function actorChangesOfOthers(db: Db, afterId: number, ownerId: string, limit = 1_000): ActorChangeRow[] {
  return db
    .select()
    .from(actorChanges)
    .where(and(gt(actorChanges.id, afterId), ne(actorChanges.ownerId, ownerId)))
    .orderBy(asc(actorChanges.id))
    .limit(limit)
    .all();
}

/** Drops rows older than `keepMs`; returns how many. */
export function pruneActorChanges(db: Db, now = Date.now(), keepMs = actorChangeKeepMs): number {
  return db
    .delete(actorChanges)
    .where(lt(actorChanges.at, now - keepMs))
    .run().changes;
}
