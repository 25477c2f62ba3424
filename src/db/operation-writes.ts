import { and, eq, max } from "drizzle-orm";
import { recordIntent } from "./intents.ts";
import { generations, images, type SyncStatus } from "./schema.ts";
import { refreshActorStatistics } from "./statistics.ts";
import type { Db } from "./store.ts";

/** A rating written to the row; statistics follow in the same transaction. */
export function recordRating(db: Db, actorId: number, filename: string, good: boolean | null): void {
  db.transaction(() => {
    db.update(images)
      .set({ good })
      .where(and(eq(images.actorId, actorId), eq(images.filename, filename)))
      .run();
    refreshActorStatistics(db, [actorId]);
  });
}

/**
 * Ratings of many images of one actor in one transaction: each step's intent (so recovery can
 * redo it) and its row, then the statistics once. Rated one at a time, a thousand images took
 * seconds (a commit and a statistics pass over the actor per image). Returns the intent ids.
 */
export function recordRatings(
  db: Db,
  actorId: number,
  ratings: readonly { filename: string; good: boolean | null; detail: unknown }[],
): number[] {
  return db.transaction(() => {
    const intentIds = ratings.map((rating) => recordIntent(db, actorId, rating.filename, "rate", rating.detail));
    for (const rating of ratings) {
      db.update(images)
        .set({ good: rating.good })
        .where(and(eq(images.actorId, actorId), eq(images.filename, rating.filename)))
        .run();
    }
    refreshActorStatistics(db, [actorId]);
    return intentIds;
  });
}

/** The local copy was removed on purpose (prune): S3 holds the image, the row forgets the local side. */
export function recordLocalPruned(db: Db, actorId: number, filename: string, status: SyncStatus): void {
  db.transaction(() => {
    db.update(images)
      .set({ status, checkedAt: new Date().toISOString(), localPath: null, localSize: null, localMtimeMs: null })
      .where(and(eq(images.actorId, actorId), eq(images.filename, filename)))
      .run();
    refreshActorStatistics(db, [actorId]);
  });
}

/** An image added by upload, with what is known of it once it is on its sides. */
export interface AddedImage {
  filename: string;
  index: number | null;
  md5: string;
  size: number;
  status: SyncStatus;
  s3Key: string;
  s3Url: string;
  s3Etag: string | null;
  s3LastModified: string | null;
  localPath: string | null;
  localMtimeMs: number | null;
  prompt: string | null;
  promptPreview: string | null;
  generatedAt: string;
  generationId: number | null;
  source: string | null;
}

/** Inserts the row of an added image, or replaces what an overwritten one said (rating kept). */
export function recordAddedImage(db: Db, actorId: number, image: AddedImage): void {
  const now = new Date().toISOString();
  const values = {
    actorId,
    filename: image.filename,
    index: image.index,
    md5: image.md5,
    sizeBytes: image.size,
    status: image.status,
    checkedAt: now,
    modifiedAt: now,
    modifiedTimestamp: Date.now() / 1000,
    s3Key: image.s3Key,
    s3Url: image.s3Url,
    s3Etag: image.s3Etag,
    s3Size: image.size,
    s3LastModified: image.s3LastModified,
    s3Md5: image.md5,
    s3Md5Etag: image.s3Etag,
    localPath: image.localPath,
    localSize: image.localPath === null ? null : image.size,
    localMtimeMs: image.localMtimeMs,
    prompt: image.prompt,
    promptPreview: image.promptPreview,
    generatedAt: image.generatedAt,
    generationId: image.generationId,
    source: image.source,
    orphan: false,
  };
  const { actorId: _actor, filename: _filename, ...update } = values;
  db.transaction(() => {
    db.insert(images)
      .values(values)
      .onConflictDoUpdate({ target: [images.actorId, images.filename], set: update })
      .run();
    refreshActorStatistics(db, [actorId]);
  });
}

/** A new generation of the actor (its key one past the largest), for a batch of added images. */
export function createGeneration(
  db: Db,
  actorId: number,
  type: string,
  metadata: unknown,
  imageCount: number,
): { id: number; key: number } {
  return db.transaction(() => {
    const top = db
      .select({ key: max(generations.generationKey) })
      .from(generations)
      .where(eq(generations.actorId, actorId))
      .get();
    const key = (top?.key ?? 0) + 1;
    const row = db
      .insert(generations)
      .values({
        actorId,
        generationKey: key,
        type,
        generatedAt: new Date().toISOString(),
        imageCount,
        metadata: metadata === undefined || metadata === null ? null : JSON.stringify(metadata),
      })
      .returning({ id: generations.id })
      .get();
    return { id: row.id, key };
  });
}

/** How many images a generation really brought; one that brought none is removed. */
export function settleGeneration(db: Db, generationId: number, imageCount: number): void {
  if (imageCount === 0) db.delete(generations).where(eq(generations.id, generationId)).run();
  else db.update(generations).set({ imageCount }).where(eq(generations.id, generationId)).run();
}
