/**
 * Per-actor locks in SQLite (SPEC.md §7: an actor is worked on by one process at a time): a
 * row names the lease holding the actor; a row whose lease is gone is taken over.
 */
import { and, eq } from "drizzle-orm";
import { leaseById, leaseIsLive } from "./process-lease.ts";
import { actorLocks, type ProcessLeaseRow } from "./schema.ts";
import type { Db } from "./store.ts";

/**
 * Takes the actor for `ownerId` unless a live process holds it; returns null when taken, or
 * the holder's lease. The same owner holding it already counts as held (one holder per
 * actor, even within a process).
 */
export function tryLockActor(db: Db, actorId: number, ownerId: string): ProcessLeaseRow | null {
  return db.transaction((tx) => {
    const held = tx.select().from(actorLocks).where(eq(actorLocks.actorId, actorId)).get();
    if (held) {
      const holder = leaseById(db, held.ownerId);
      if (holder && leaseIsLive(holder)) return holder;
      tx.delete(actorLocks).where(eq(actorLocks.actorId, actorId)).run();
    }
    tx.insert(actorLocks).values({ actorId, ownerId, acquiredAt: new Date().toISOString() }).run();
    return null;
  });
}

export function unlockActor(db: Db, actorId: number, ownerId: string): void {
  db.delete(actorLocks)
    .where(and(eq(actorLocks.actorId, actorId), eq(actorLocks.ownerId, ownerId)))
    .run();
}
