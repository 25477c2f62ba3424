import type { ActorRow, ImageRow, SyncStatus } from "./schema.ts";
import { cachedStatement } from "./statements.ts";
import { refreshActorStatistics } from "./statistics.ts";
import type { Db } from "./store.ts";

/** The columns of an image an audit reads and writes. */
export type AuditedImage = Pick<
  ImageRow,
  | "id"
  | "filename"
  | "s3Key"
  | "md5"
  | "sizeBytes"
  | "status"
  | "checkedAt"
  | "localSize"
  | "localMtimeMs"
  | "s3Etag"
  | "s3Size"
  | "s3LastModified"
  | "s3Md5"
  | "s3Md5Etag"
>;

export interface ActorAuditSnapshot {
  /** The actor's revision when its rows were read: the write is refused if it moved meanwhile. */
  revision: number;
  lastCheckedAt: string | null;
  images: AuditedImage[];
}

/** One actor's images as an audit needs them, read together with the actor's revision (one statement pair, no await between). */
export function loadActorForAudit(db: Db, actorId: number): ActorAuditSnapshot | null {
  const actor = cachedStatement(db, `SELECT revision, last_checked_at AS lastCheckedAt FROM actors WHERE id = ?`).get(actorId) as
    | { revision: number; lastCheckedAt: string | null }
    | undefined;
  if (!actor) return null;
  const images = cachedStatement(
    db,
    `SELECT id, filename, s3_key AS s3Key, md5, size_bytes AS sizeBytes, status, checked_at AS checkedAt,
       local_size AS localSize, local_mtime_ms AS localMtimeMs, s3_etag AS s3Etag, s3_size AS s3Size,
       s3_last_modified AS s3LastModified, s3_md5 AS s3Md5, s3_md5_etag AS s3Md5Etag
     FROM images WHERE actor_id = ? ORDER BY filename`,
  ).all(actorId) as AuditedImage[];
  return { ...actor, images };
}

export function actorsForAudit(db: Db, actorIds: readonly number[] | "all"): Pick<ActorRow, "id" | "name">[] {
  if (actorIds === "all") return db.$client.prepare(`SELECT id, name FROM actors ORDER BY name`).all() as ActorRow[];
  return db.$client
    .prepare(`SELECT id, name FROM actors WHERE id IN (SELECT value FROM json_each(?)) ORDER BY name`)
    .all(JSON.stringify(actorIds)) as ActorRow[];
}

/** What an audit learned about one image: both sides as seen, and the status that follows. */
export type ImageAuditOutcome = Omit<AuditedImage, "filename" | "s3Key" | "checkedAt"> & { status: SyncStatus };

const auditedColumns = [
  "status",
  "md5",
  "sizeBytes",
  "localSize",
  "localMtimeMs",
  "s3Etag",
  "s3Size",
  "s3LastModified",
  "s3Md5",
  "s3Md5Etag",
] as const satisfies readonly (keyof ImageAuditOutcome)[];
/** Columns the exported manifests show: a change in any of them makes the actor's manifests stale. */
const exportedColumns = ["status", "md5", "sizeBytes"] as const satisfies readonly (keyof ImageAuditOutcome)[];

/**
 * Writes one actor's audit in one short transaction: the rows that changed, the check
 * time of all of them and of the actor, and the statistics (which also bumps the revision)
 * when something the manifests show changed, so an audit that changed nothing leaves the
 * manifests alone. Returns "stale", writing nothing, when the actor's revision moved since
 * its rows were read (another writer changed it; the caller audits it again).
 */
export function writeActorAudit(
  db: Db,
  actorId: number,
  snapshot: ActorAuditSnapshot,
  outcomes: readonly ImageAuditOutcome[],
  checkedAt: string,
): "written" | "stale" {
  const before = new Map(snapshot.images.map((row) => [row.id, row]));
  const changedRows = outcomes.filter((outcome) => {
    const row = before.get(outcome.id);
    return !row || auditedColumns.some((column) => row[column] !== outcome[column]);
  });
  const visible = changedRows.some((outcome) => {
    const row = before.get(outcome.id);
    return !row || exportedColumns.some((column) => row[column] !== outcome[column]);
  });
  const update = cachedStatement(
    db,
    `UPDATE images SET status = @status, md5 = @md5, size_bytes = @sizeBytes, local_size = @localSize,
       local_mtime_ms = @localMtimeMs, s3_etag = @s3Etag, s3_size = @s3Size, s3_last_modified = @s3LastModified,
       s3_md5 = @s3Md5, s3_md5_etag = @s3Md5Etag
     WHERE id = @id AND actor_id = @actorId`,
  );
  return db.$client.transaction((): "written" | "stale" => {
    const revision = cachedStatement(db, `SELECT revision FROM actors WHERE id = ?`).pluck().get(actorId);
    if (revision !== snapshot.revision) return "stale";
    for (const outcome of changedRows) update.run({ ...outcome, actorId });
    cachedStatement(db, `UPDATE images SET checked_at = ? WHERE actor_id = ?`).run(checkedAt, actorId);
    cachedStatement(db, `UPDATE actors SET last_checked_at = ? WHERE id = ?`).run(checkedAt, actorId);
    if (visible) refreshActorStatistics(db, [actorId]);
    return "written";
  })();
}

/** Whether the actor's manifests lag behind its rows (changed now, or by an earlier run whose export failed). */
export function actorNeedsExport(db: Db, actorId: number): boolean {
  return cachedStatement(db, `SELECT revision > exported_revision FROM actors WHERE id = ?`).pluck().get(actorId) === 1;
}
