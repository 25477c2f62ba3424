import { and, eq, inArray, sql } from "drizzle-orm";
import { intents, type IntentRow } from "./schema.ts";
import { leaseOf, liveOwnerIds } from "./process-lease.ts";
import { bare, cachedStatement, columnList, namedParameters, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

/** Records that a step is about to touch S3 or disk for this image (before it does), owned by this process's lease. */
export function recordIntent(db: Db, actorId: number, filename: string, operation: string, detail: unknown): number {
  const row = cachedStatement(db, insertIntentText).get({
    actorId,
    filename,
    operation,
    detail: JSON.stringify(detail),
    state: "pending",
    createdAt: new Date().toISOString(),
    ownerId: leaseOf(db).ownerId,
  }) as { id: number };
  return row.id;
}

// One prepared statement: a write-through records an intent before every transfer.
const intentColumns = {
  actorId: intents.actorId,
  filename: intents.filename,
  operation: intents.operation,
  detail: intents.detail,
  state: intents.state,
  createdAt: intents.createdAt,
  ownerId: intents.ownerId,
};
const insertIntentText = sqlText(
  sql`INSERT INTO ${intents} (${columnList(Object.values(intentColumns))}) VALUES (${namedParameters(intentColumns)}) RETURNING ${bare(intents.id)} AS id`,
);

/** The step failed and changed nothing that needs settling. */
export function failIntent(db: Db, id: number, error: string): void {
  db.update(intents).set({ state: "failed", error, settledAt: new Date().toISOString() }).where(eq(intents.id, id)).run();
}

/** The actor's manifests now say what its pending steps did. */
export function settleIntents(db: Db, ids: readonly number[]): void {
  if (ids.length === 0) return;
  db.update(intents)
    .set({ state: "done", settledAt: new Date().toISOString() })
    .where(and(inArray(intents.id, [...ids]), eq(intents.state, "pending")))
    .run();
}

/**
 * The actor's manifests now say what this process's steps on it did: its intents still pending
 * are settled, those of this change and of an earlier one whose manifests could not be written
 * then. Called holding the actor's lock, so none of them is a step still in flight.
 */
export function settleOwnActorIntents(db: Db, actorId: number): void {
  db.update(intents)
    .set({ state: "done", settledAt: new Date().toISOString() })
    .where(and(eq(intents.actorId, actorId), eq(intents.ownerId, leaseOf(db).ownerId), eq(intents.state, "pending")))
    .run();
}

/** Steps a crash interrupted: pending, and their process gone (a live one is still doing them). */
export function orphanedIntents(db: Db): IntentRow[] {
  const live = liveOwnerIds(db);
  return db
    .select()
    .from(intents)
    .where(eq(intents.state, "pending"))
    .all()
    .filter((intent) => intent.ownerId === null || !live.has(intent.ownerId));
}
