import { asc, eq, sql } from "drizzle-orm";
import { actors, generations, images, sourceFiles, type ActorRow, type ImageRow, type SyncStatus } from "./schema.ts";
import { forgetAuditBasis } from "./audit-basis.ts";
import { refreshActorStatistics } from "./statistics.ts";
import { actorsByIds } from "./actor-queries.ts";
import { actorImages } from "./image-queries.ts";
import { assignNamed, bare, cachedStatement, columnList, namedParameters, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

/** The columns a scan may change on an existing images row. */
export type ScannedImageChanges = Partial<
  Pick<
    ImageRow,
    | "status"
    | "sizeBytes"
    | "modifiedAt"
    | "modifiedTimestamp"
    | "localPath"
    | "md5"
    | "s3Key"
    | "s3Url"
    | "localSize"
    | "localMtimeMs"
    | "s3Etag"
    | "s3Size"
    | "s3LastModified"
    | "s3Md5"
  >
>;

/** An image the scan found under the actor's folder or prefix that no row tracks (an orphan). */
export interface ScannedImageInsert {
  filename: string;
  index: number | null;
  s3Key: string;
  s3Url: string;
  localPath: string | null;
  sizeBytes: number;
  modifiedAt: string | null;
  modifiedTimestamp: number | null;
  md5: string | null;
  status: SyncStatus | null;
  source: string;
  localSize: number | null;
  localMtimeMs: number | null;
  s3Etag: string | null;
  s3Size: number | null;
  s3LastModified: string | null;
  /** Found in S3: recorded under this scan's `s3_scan` generation. */
  foundInS3: boolean;
}

export interface ActorScanWrite {
  actorId: number;
  /** The actor's revision when the scan read its rows; a different one means someone wrote meanwhile. */
  expectedRevision: number;
  checkedAt: string;
  inserts: ScannedImageInsert[];
  updates: { id: number; changes: ScannedImageChanges }[];
  /** Something the manifests show changed: statistics are recomputed and the revision bumped. */
  visible: boolean;
  /** Something the last audit's outcome rested on changed (new rows, ETags, stats): its basis is dropped. */
  forgetsAudit: boolean;
  /** Metadata of the `s3_scan` generation created when an insert was found in S3. */
  generationMetadata?: Record<string, unknown>;
}

export interface ActorScanSnapshot {
  actor: ActorRow;
  images: ImageRow[];
}

export function loadActorForScan(db: Db, actorId: number): ActorScanSnapshot | null {
  const [actor] = actorsByIds(db, [actorId]);
  return actor ? { actor, images: actorImages(db, actorId) } : null;
}

/**
 * Writes what one actor's scan learned in one short transaction. Returns "stale" (and
 * writes nothing) when the actor's revision moved since its rows were read, so the
 * caller plans again from fresh rows instead of overwriting another writer's change.
 */
export function writeActorScan(db: Db, write: ActorScanWrite): "written" | "stale" {
  return db.transaction((tx) => {
    const current = cachedStatement(db, revisionText).get(write.actorId) as { revision: number } | undefined;
    if (!current || current.revision !== write.expectedRevision) return "stale";

    let generationId: number | null = null;
    const inS3 = write.inserts.filter((insert) => insert.foundInS3).length;
    if (inS3 > 0) {
      const next = tx
        .select({ key: sql<number>`coalesce(max(${generations.generationKey}), 0) + 1` })
        .from(generations)
        .where(eq(generations.actorId, write.actorId))
        .get();
      const created = tx
        .insert(generations)
        .values({
          actorId: write.actorId,
          generationKey: next?.key ?? 1,
          type: "s3_scan",
          generatedAt: write.checkedAt,
          imageCount: inS3,
          metadata: JSON.stringify(write.generationMetadata ?? { scanned_at: write.checkedAt, total_scanned: inS3 }),
        })
        .returning({ id: generations.id })
        .get();
      generationId = created.id;
    }

    for (const { foundInS3, ...insert } of write.inserts) {
      tx.insert(images)
        .values({
          ...insert,
          actorId: write.actorId,
          orphan: true,
          checkedAt: write.checkedAt,
          generationId: foundInS3 ? generationId : null,
          generatedAt: foundInS3 ? write.checkedAt : null,
        })
        .run();
    }
    for (const update of write.updates) {
      const columns = Object.keys(update.changes) as (keyof ScannedImageChanges)[];
      if (columns.length > 0) cachedStatement(db, imageUpdateText(columns)).run({ ...update.changes, id: update.id });
    }
    // Even a change the manifests do not show (an ETag, a stat) means the last audit's outcome no longer stands on its own.
    if (write.forgetsAudit) forgetAuditBasis(db, write.actorId);
    cachedStatement(db, checkedText).run({ actorId: write.actorId, checkedAt: write.checkedAt });
    cachedStatement(db, actorCheckedText).run({ actorId: write.actorId, checkedAt: write.checkedAt });
    if (write.visible) refreshActorStatistics(db, [write.actorId]); // same connection, so inside this transaction;
    return "written";
  });
}

const revisionText = sqlText(sql`SELECT ${actors.revision} AS revision FROM ${actors} WHERE ${actors.id} = ?`);
// The actor's check time is every row's (image-queries.ts imageCheckedAt) but that of a row never checked before.
const checkedText = sqlText(
  sql`UPDATE ${images} SET ${bare(images.checkedAt)} = @checkedAt WHERE ${images.actorId} = @actorId AND ${images.checkedAt} IS NULL`,
);
const actorCheckedText = sqlText(
  sql`UPDATE ${actors} SET ${bare(actors.lastCheckedAt)} = @checkedAt, ${bare(actors.s3ListedAt)} = @checkedAt WHERE ${actors.id} = @actorId`,
);
const imageUpdateTexts = new Map<string, string>();

/** `UPDATE images SET …` of these columns (bound by property name) for the row `@id`; one text per set of columns. */
function imageUpdateText(columns: readonly (keyof ScannedImageChanges)[]): string {
  const signature = columns.join(",");
  let text = imageUpdateTexts.get(signature);
  if (!text) {
    text = sqlText(
      sql`UPDATE ${images} SET ${assignNamed(Object.fromEntries(columns.map((column) => [column, images[column]])))} WHERE ${images.id} = @id`,
    );
    imageUpdateTexts.set(signature, text);
  }
  return text;
}

/** An actor found by its folder or S3 prefix alone, with the parts of its name and the format A file its id would have. */
export interface DiscoveredActor {
  name: string;
  characterId: string | null;
  descriptor: string | null;
  age: number | null;
  gender: string | null;
  formatAPath: string | null;
}

/**
 * Adds actors that have a folder or a prefix and no row (SPEC.md §3, §6: no actor is left
 * unaccounted for); a format A file of their id that could not be read, so named no actor,
 * becomes one of their problems. Returns the actors added, with the revision they were added at.
 */
export function addDiscoveredActors(db: Db, discovered: readonly DiscoveredActor[]): { id: number; name: string; revision: number }[] {
  const insert = db.$client.prepare(insertDiscoveredText);
  const claimProblemFile = db.$client.prepare(claimProblemFileText);
  return db.$client.transaction(() => {
    const added: { id: number; name: string; revision: number }[] = [];
    for (const actor of discovered) {
      const row = insert.get(actor) as { id: number; revision: number } | undefined;
      if (row === undefined) continue;
      if (actor.formatAPath) claimProblemFile.run(row.id, actor.formatAPath);
      added.push({ ...row, name: actor.name });
    }
    return added;
  })();
}

const discoveredColumns = {
  characterId: actors.characterId,
  name: actors.name,
  descriptor: actors.descriptor,
  age: actors.age,
  gender: actors.gender,
};
const insertDiscoveredText =
  sqlText(sql`INSERT INTO ${actors} (${columnList(Object.values(discoveredColumns))}) VALUES (${namedParameters(discoveredColumns)})
  ON CONFLICT(${bare(actors.name)}) DO NOTHING RETURNING ${bare(actors.id)} AS id, ${bare(actors.revision)} AS revision`);
const claimProblemFileText = sqlText(sql`UPDATE ${sourceFiles} SET ${bare(sourceFiles.actorId)} = ?
  WHERE ${sourceFiles.path} = ? AND ${sourceFiles.actorId} IS NULL AND ${sourceFiles.error} IS NOT NULL`);

/** Every actor's revision by row id. */
export function actorRevisions(db: Db): Map<number, number> {
  return new Map(
    db
      .select({ id: actors.id, revision: actors.revision })
      .from(actors)
      .all()
      .map((row) => [row.id, row.revision]),
  );
}

/** Ids of every actor, by name (a scan of `--all`). */
export function allActorIds(db: Db): number[] {
  return db
    .select({ id: actors.id })
    .from(actors)
    .orderBy(asc(actors.name))
    .all()
    .map((row) => row.id);
}
