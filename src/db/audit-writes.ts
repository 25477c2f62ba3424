import { sep } from "node:path";
import { recordAuditBasis, type AuditBasis } from "./audit-basis.ts";
import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { actors, auditBases, hashCache, images, type ActorRow, type ImageRow, type SyncStatus } from "./schema.ts";
import { assignPositional, bare, cachedStatement, jsonList, sqlText } from "./statements.ts";
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
> & {
  // The hash_cache row of the image's local path, if any (whether or not it still matches the file); null when none.
  cacheSize: number | null;
  cacheMtimeMs: number | null;
  cacheCtimeMs: number | null;
  cacheInode: number | null;
  cacheMd5: string | null;
};

export interface ActorAuditSnapshot {
  /** The actor's revision when its rows were read: the write is refused if it moved meanwhile. */
  revision: number;
  s3ListedAt: string | null;
  images: AuditedImage[];
}

/**
 * One actor's images as an audit needs them, each with its hash_cache row (the cache is
 * keyed by the absolute path `folder/filename`), read together with the actor's revision.
 */
export function loadActorForAudit(db: Db, actorId: number, folder: string): ActorAuditSnapshot | null {
  const actor = cachedStatement(db, auditedActorText).get(actorId) as { revision: number; s3ListedAt: string | null } | undefined;
  if (!actor) return null;
  const images = cachedStatement(db, auditedImagesText).all({
    actorId,
    folder: folder.endsWith(sep) ? folder : folder + sep,
  }) as AuditedImage[];
  return { ...actor, images };
}

const auditedActorText = sqlText(
  sql`SELECT ${actors.revision} AS revision, ${actors.s3ListedAt} AS s3ListedAt FROM ${actors} WHERE ${actors.id} = ?`,
);
const i = alias(images, "i");
const h = alias(hashCache, "h");
// The cache is keyed by absolute path: the folder (bound as @folder, ending in a separator) and the filename.
const auditedImagesText = sqlText(sql`SELECT ${i.id} AS id, ${i.filename} AS filename, ${i.s3Key} AS s3Key, ${i.md5} AS md5,
    ${i.sizeBytes} AS sizeBytes, ${i.status} AS status, ${i.checkedAt} AS checkedAt, ${i.localSize} AS localSize,
    ${i.localMtimeMs} AS localMtimeMs, ${i.s3Etag} AS s3Etag, ${i.s3Size} AS s3Size, ${i.s3LastModified} AS s3LastModified,
    ${i.s3Md5} AS s3Md5, ${i.s3Md5Etag} AS s3Md5Etag, ${h.sizeBytes} AS cacheSize, ${h.mtimeMs} AS cacheMtimeMs,
    ${h.ctimeMs} AS cacheCtimeMs, ${h.inode} AS cacheInode, ${h.md5} AS cacheMd5
  FROM ${images} ${i} LEFT JOIN ${hashCache} ${h} ON ${h.path} = @folder || ${i.filename}
  WHERE ${i.actorId} = @actorId ORDER BY ${i.filename}`);

const everyActorText = sqlText(sql`SELECT ${actors.id} AS id, ${actors.name} AS name FROM ${actors} ORDER BY ${actors.name}`);
const actorsOfText = sqlText(
  sql`SELECT ${actors.id} AS id, ${actors.name} AS name FROM ${actors} WHERE ${actors.id} IN (SELECT value FROM json_each(?)) ORDER BY ${actors.name}`,
);

export function actorsForAudit(db: Db, actorIds: readonly number[] | "all"): Pick<ActorRow, "id" | "name">[] {
  if (actorIds === "all") return cachedStatement(db, everyActorText).all() as ActorRow[];
  return cachedStatement(db, actorsOfText).all(jsonList(actorIds)) as ActorRow[];
}

/** What an audit learned about one image: both sides as seen, and the status that follows. */
export type ImageAuditOutcome = Omit<
  AuditedImage,
  "filename" | "s3Key" | "checkedAt" | "cacheSize" | "cacheMtimeMs" | "cacheCtimeMs" | "cacheInode" | "cacheMd5"
> & { status: SyncStatus };

export interface ActorAuditWrite {
  actorId: number;
  snapshot: ActorAuditSnapshot;
  outcomes: readonly ImageAuditOutcome[];
  /** The S3 side was listed by this audit (not taken from the last listing). */
  listed: boolean;
  basis: Omit<AuditBasis, "revision">;
}

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
 * Writes the audits of some actors in one short transaction: the rows that changed (and any
 * never checked before), the actor's check time, which every other row reads as its own
 * (image-queries.ts imageCheckedAt), and the statistics (which also bumps the revision)
 * of actors where something the manifests show changed, so an audit that changed nothing
 * leaves the manifests alone, and the basis a later audit may confirm instead of redoing
 * (audit-basis.ts). An actor whose revision moved since its rows were read
 * (another writer changed it) is "stale": nothing of it is written, and the caller audits
 * it again.
 */
export function writeActorAudits(db: Db, writes: readonly ActorAuditWrite[], checkedAt: string): ("written" | "stale")[] {
  const update = cachedStatement(db, auditUpdateText);
  return db.$client.transaction(() => {
    const ids = jsonList(writes.map((write) => write.actorId));
    const revisions = new Map(
      (cachedStatement(db, revisionsText).all(ids) as { id: number; revision: number }[]).map((row) => [row.id, row.revision]),
    );
    const results = writes.map((write) => (revisions.get(write.actorId) === write.snapshot.revision ? "written" : "stale"));
    const written = writes.filter((_, i) => results[i] === "written");
    const visible: number[] = [];
    for (const write of written) {
      const before = new Map(write.snapshot.images.map((row) => [row.id, row]));
      let changedVisible = false;
      for (const outcome of write.outcomes) {
        const row = before.get(outcome.id);
        if (row && row.checkedAt !== null && !auditedColumns.some((column) => row[column] !== outcome[column])) continue;
        update.run(
          auditedColumns.map((column) => outcome[column]),
          checkedAt,
          outcome.id,
          write.actorId,
        );
        changedVisible ||= !row || exportedColumns.some((column) => row[column] !== outcome[column]);
      }
      if (changedVisible) visible.push(write.actorId);
    }
    markChecked(db, written, checkedAt);
    refreshActorStatistics(db, visible);
    // After the statistics: the basis carries the revision they left.
    for (const write of written) recordAuditBasis(db, write.actorId, write.basis);
    return results;
  })();
}

/**
 * Marks as checked now the actors an audit found unchanged since their last audit, each
 * only if its rows are still as its basis says (nothing wrote since the audit read it).
 * No image row is written: each reads the actor's check time (image-queries.ts imageCheckedAt).
 * Returns, per actor, whether it was confirmed.
 */
export function confirmUnchangedAudits(
  db: Db,
  confirmations: readonly { actorId: number; revision: number; listed: boolean }[],
  checkedAt: string,
): boolean[] {
  const stillBasis = cachedStatement(db, stillBasisText).pluck();
  return db.$client.transaction(() => {
    const confirmed = confirmations.map((item) => stillBasis.get(item.actorId, item.revision) === 1);
    markChecked(
      db,
      confirmations.filter((_, i) => confirmed[i]),
      checkedAt,
    );
    return confirmed;
  })();
}

/** The check time of the actors (and so of their rows), and the listing time of those whose S3 side was listed. */
function markChecked(db: Db, checked: readonly { actorId: number; listed: boolean }[], checkedAt: string): void {
  const ids = jsonList(checked.map((item) => item.actorId));
  cachedStatement(db, actorsCheckedText).run(checkedAt, ids);
  const listedIds = jsonList(checked.filter((item) => item.listed).map((item) => item.actorId));
  cachedStatement(db, actorsListedText).run(checkedAt, listedIds);
}

/** Whether the actor's manifests lag behind its rows (changed now, or by an earlier run whose export failed). */
export function actorNeedsExport(db: Db, actorId: number): boolean {
  return cachedStatement(db, needsExportText).pluck().get(actorId) === 1;
}

const auditUpdateText = sqlText(
  sql`UPDATE ${images} SET ${assignPositional([...auditedColumns.map((column) => images[column]), images.checkedAt])}
    WHERE ${images.id} = ? AND ${images.actorId} = ?`,
);
const revisionsText = sqlText(
  sql`SELECT ${actors.id} AS id, ${actors.revision} AS revision FROM ${actors} WHERE ${actors.id} IN (SELECT value FROM json_each(?))`,
);
const a = alias(actors, "a");
const b = alias(auditBases, "b");
const stillBasisText = sqlText(
  sql`SELECT 1 FROM ${actors} ${a} JOIN ${auditBases} ${b} ON ${b.actorId} = ${a.id} WHERE ${a.id} = ? AND ${a.revision} = ? AND ${b.revision} = ${a.revision}`,
);
const actorsCheckedText = sqlText(
  sql`UPDATE ${actors} SET ${bare(actors.lastCheckedAt)} = ? WHERE ${actors.id} IN (SELECT value FROM json_each(?))`,
);
const actorsListedText = sqlText(
  sql`UPDATE ${actors} SET ${bare(actors.s3ListedAt)} = ? WHERE ${actors.id} IN (SELECT value FROM json_each(?))`,
);
const needsExportText = sqlText(sql`SELECT ${actors.revision} > ${actors.exportedRevision} FROM ${actors} WHERE ${actors.id} = ?`);
