/**
 * Per-actor locks in SQLite (SPEC.md §7: an actor is worked on by one process at a time): a
 * row names the lease holding the actor; a row whose lease is gone is taken over.
 */
import { sql } from "drizzle-orm";
import { leaseById, leaseIsLive } from "./process-lease.ts";
import { actorLocks, type ProcessLeaseRow } from "./schema.ts";
import { cachedStatement, columnList, jsonList, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

/**
 * Takes the actor for `ownerId` unless a live process holds it; returns null when taken, or
 * the holder's lease. The same owner holding it already counts as held (one holder per
 * actor, even within a process).
 */
export function tryLockActor(db: Db, actorId: number, ownerId: string): ProcessLeaseRow | null {
  return tryLockActors(db, [actorId], ownerId)[0]!;
}

/** `tryLockActor` for each actor, in one transaction (each actor still taken or refused on its own); answers in order. */
export function tryLockActors(db: Db, actorIds: readonly number[], ownerId: string): (ProcessLeaseRow | null)[] {
  const holderOf = cachedStatement(db, holderText).pluck();
  const release = cachedStatement(db, releaseText);
  const take = cachedStatement(db, takeText);
  return db.$client.transaction(() =>
    actorIds.map((actorId) => {
      const heldBy = holderOf.get(actorId) as string | undefined;
      if (heldBy !== undefined) {
        const holder = leaseById(db, heldBy);
        if (holder && leaseIsLive(holder)) return holder;
        release.run(actorId);
      }
      take.run(actorId, ownerId, new Date().toISOString());
      return null;
    }),
  )();
}

export function unlockActor(db: Db, actorId: number, ownerId: string): void {
  unlockActors(db, [actorId], ownerId);
}

/** Lets go of every actor in `actorIds` that `ownerId` holds, in one statement. */
export function unlockActors(db: Db, actorIds: readonly number[], ownerId: string): void {
  cachedStatement(db, unlockText).run(jsonList(actorIds), ownerId);
}

const holderText = sqlText(sql`SELECT ${actorLocks.ownerId} FROM ${actorLocks} WHERE ${actorLocks.actorId} = ?`);
const releaseText = sqlText(sql`DELETE FROM ${actorLocks} WHERE ${actorLocks.actorId} = ?`);
const takeText = sqlText(
  sql`INSERT INTO ${actorLocks} (${columnList([actorLocks.actorId, actorLocks.ownerId, actorLocks.acquiredAt])}) VALUES (?, ?, ?)`,
);
const unlockText = sqlText(
  sql`DELETE FROM ${actorLocks} WHERE ${actorLocks.actorId} IN (SELECT value FROM json_each(?)) AND ${actorLocks.ownerId} = ?`,
);
