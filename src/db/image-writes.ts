import { and, eq, sql } from "drizzle-orm";
import { carryAuditBasis } from "./audit-basis.ts";
import { actors, images, type SyncStatus } from "./schema.ts";
import { bare, cachedStatement, sqlText } from "./statements.ts";
import { refreshActorStatistics } from "./statistics.ts";
import type { Db } from "./store.ts";

/** Both sides as a verified transfer left them: the image is synced. */
export interface TransferredImage {
  md5: string;
  size: number;
  s3Key: string;
  s3Url: string;
  s3Etag: string | null;
  s3LastModified: string | null;
  localPath: string;
  /** Null when the stat cannot prove the file unchanged since (see transfer.ts): the next scan looks again. */
  localMtimeMs: number | null;
}

/**
 * After a verified upload or download: both sides hold `md5`, so the image is SYNCED. An upload
 * (`folderUntouched`) keeps the last audit's basis standing; a download changed the folder it describes.
 */
export function recordTransfer(db: Db, actorId: number, filename: string, result: TransferredImage, folderUntouched: boolean): void {
  const now = new Date().toISOString();
  db.$client.transaction(() => {
    const fromRevision = (cachedStatement(db, revisionText).get(actorId) as { revision: number } | undefined)?.revision;
    cachedStatement(db, transferText).run({
      actorId,
      filename,
      checkedAt: now,
      md5: result.md5,
      size: result.size,
      s3Key: result.s3Key,
      s3Url: result.s3Url,
      s3Etag: result.s3Etag,
      s3LastModified: result.s3LastModified,
      localPath: result.localPath,
      localMtimeMs: result.localMtimeMs,
    });
    refreshActorStatistics(db, [actorId]);
    if (folderUntouched && fromRevision !== undefined) carryAuditBasis(db, actorId, fromRevision);
  })();
}

// One prepared statement: every verified transfer records one (building it with drizzle each time cost more than running it).
const transferText = sqlText(sql`UPDATE ${images} SET ${bare(images.status)} = 'synced', ${bare(images.checkedAt)} = @checkedAt,
  ${bare(images.md5)} = @md5, ${bare(images.sizeBytes)} = @size, ${bare(images.s3Key)} = @s3Key, ${bare(images.s3Url)} = @s3Url,
  ${bare(images.s3Etag)} = @s3Etag, ${bare(images.s3Size)} = @size, ${bare(images.s3LastModified)} = @s3LastModified,
  ${bare(images.s3Md5)} = @md5, ${bare(images.s3Md5Etag)} = @s3Etag, ${bare(images.localPath)} = @localPath,
  ${bare(images.localSize)} = @size, ${bare(images.localMtimeMs)} = @localMtimeMs
  WHERE ${images.actorId} = @actorId AND ${images.filename} = @filename`);
const revisionText = sqlText(sql`SELECT ${actors.revision} AS revision FROM ${actors} WHERE ${actors.id} = ?`);

/** After deleting one side: the row says what is left, or goes when nothing is meant to remain. */
export function recordDeletion(db: Db, actorId: number, filename: string, remaining: { status: SyncStatus } | null): void {
  const now = new Date().toISOString();
  const where = and(eq(images.actorId, actorId), eq(images.filename, filename));
  db.transaction(() => {
    if (remaining === null) db.delete(images).where(where).run();
    else db.update(images).set({ status: remaining.status, checkedAt: now }).where(where).run();
    refreshActorStatistics(db, [actorId]);
  });
}
