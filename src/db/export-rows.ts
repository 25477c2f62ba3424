/** What an export of the manifests reads of an actor, and its record that the actor was written. */
import { and, asc, eq, gt, inArray, notExists, or } from "drizzle-orm";
import { actors, generations, images, sourceFiles, type ActorRow, type GenerationRow, type ImageRow } from "./schema.ts";
import type { Db } from "./store.ts";

/**
 * The named actors, or all with `force`; otherwise those changed since their last export
 * and those that have no format A manifest yet. By name.
 */
export function actorsToExport(db: Db, options: { actorIds?: readonly number[]; force?: boolean }): ActorRow[] {
  const unexported = or(
    gt(actors.revision, actors.exportedRevision),
    notExists(
      db
        .select()
        .from(sourceFiles)
        .where(and(eq(sourceFiles.actorId, actors.id), eq(sourceFiles.format, "format_a"))),
    ),
  );
  return db
    .select()
    .from(actors)
    .where(
      and(
        options.actorIds ? inArray(actors.id, [...options.actorIds]) : undefined,
        options.force || options.actorIds ? undefined : unexported,
      ),
    )
    .orderBy(asc(actors.name))
    .all();
}

/** An actor's images in manifest order: by index, then filename. */
export function imagesToExport(db: Db, actorId: number): ImageRow[] {
  return db.select().from(images).where(eq(images.actorId, actorId)).orderBy(asc(images.index), asc(images.filename)).all();
}

export function generationsToExport(db: Db, actorId: number): GenerationRow[] {
  return db.select().from(generations).where(eq(generations.actorId, actorId)).all();
}

/** Records that the manifests hold `actor` at its revision, unless it changed meanwhile. */
export function markActorExported(db: Db, actor: Pick<ActorRow, "id" | "revision">, manifestUpdatedAt: string | null): void {
  db.update(actors)
    .set({ exportedRevision: actor.revision, manifestUpdatedAt })
    .where(and(eq(actors.id, actor.id), eq(actors.revision, actor.revision)))
    .run();
}
