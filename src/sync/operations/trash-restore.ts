import { lstatSync, rmdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import type { AppContext } from "../../context.ts";
import { BadFilterError } from "../../db/actor-queries.ts";
import { recordIntent, settleIntents } from "../../db/intents.ts";
import type { TrashItemRow } from "../../db/schema.ts";
import { dropTrashItem, markTrashItemMoving, trashItemsByIds, trashItemsWhere } from "../../db/trash-items.ts";
import { auditActor } from "../checks/audit.ts";
import { exportManifests } from "../manifests/export.ts";
import { s3KeyOf } from "../files/layout.ts";
import { describeS3Error, headObject, type S3Access } from "../s3/s3-client.ts";
import { assertRealFolder, makeRealFolder, placeFile, removeRegularFile, symlinkReason, UnsafePathError } from "../files/safe-files.ts";
import { scanActor } from "../checks/scan.ts";
import { copyObject, settleTrashItem, trashFolderName, trashLocalFile, trashObject, trashPathOf } from "./trash.ts";
import { ActorLocks } from "./write-through.ts";

/**
 * Restoring and emptying the trash (SPEC.md §7; see trash.ts for what goes there). A restore
 * puts a file or object back where it came from through the write-through path (an intent,
 * the actor's lock, then a scan and an audit so its rows, statuses and manifests follow);
 * emptying deletes for good. Neither follows a link put in the trash.
 */

/** Trash ids that name nothing in the trash. */
export class UnknownTrashItemError extends Error {
  override name = "UnknownTrashItemError";
  constructor(readonly ids: number[]) {
    super(`no trash item with id ${ids.join(", ")} (trash list shows them)`);
  }
}

/** Something occupies the place a restore would put an item back at, and the caller did not ask to overwrite it. */
export class TrashPlaceOccupiedError extends Error {
  override name = "TrashPlaceOccupiedError";
  constructor(readonly locations: string[]) {
    super(
      `${locations.join(", ")}: something is there now; nothing was restored (restore with overwrite to move it to the trash in its turn)`,
    );
  }
}

export interface RestoreReport {
  restored: TrashItemRow[];
  failed: { item: TrashItemRow; error: string }[];
  /** Actors whose rows, statuses and manifests were brought up to date. */
  actors: string[];
}

/**
 * Puts trashed items back. Refused as a whole, before anything moves, when an id is unknown or
 * when something now occupies an item's place (unless `overwrite`: then that goes to the trash).
 */
export async function restoreTrash(
  ctx: AppContext,
  s3: S3Access,
  options: { ids: readonly number[]; overwrite?: boolean; locks?: ActorLocks },
): Promise<RestoreReport> {
  const items = trashItemsByIds(ctx.db, options.ids);
  const unknown = [...new Set(options.ids)].filter((id) => !items.some((item) => item.id === id && item.state === "kept"));
  if (unknown.length > 0) throw new UnknownTrashItemError(unknown);
  if (!options.overwrite) {
    const occupied = await occupiedPlaces(ctx, s3, items);
    if (occupied.length > 0) throw new TrashPlaceOccupiedError(occupied);
  }
  const report: RestoreReport = { restored: [], failed: [], actors: [] };
  const locks = options.locks ?? new ActorLocks(ctx.db);
  const byActor = new Map<number, TrashItemRow[]>();
  for (const item of items) byActor.set(item.actorId, [...(byActor.get(item.actorId) ?? []), item]);
  for (const [actorId, actorItems] of byActor) {
    await locks.run(actorId, async () => {
      const intentIds: number[] = [];
      for (const item of actorItems) {
        intentIds.push(
          recordIntent(ctx.db, actorId, item.filename, "restore", { trashId: item.id, overwrite: options.overwrite ?? false }),
        );
        try {
          await restoreItem(ctx, s3, item, options.overwrite ?? false);
          report.restored.push(item);
        } catch (error) {
          // Once it was on its way back: kept if it is still in the trash, forgotten if it left.
          const moving = trashItemsByIds(ctx.db, [item.id])[0]?.state === "moving";
          if (moving) await settleTrashItem(ctx, s3, item);
          report.failed.push({ item, error: describeS3Error(error) });
        }
      }
      // The rows follow what is now on each side: a scan adopts what a deletion had removed, an audit checks content and exports.
      const name = actorItems[0]!.actorName;
      const scanned = await scanActor(ctx, s3, actorId, { allowSuspect: true, exportAfter: false });
      if (scanned.outcome !== "scanned") throw new Error(`${name}: restored, but its scan failed: ${scanned.error}`);
      const audit = await auditActor(ctx, s3, actorId, { allowSuspect: true, locks: null });
      if (!audit.ok) throw new Error(`${name}: restored, but its audit failed: ${audit.error}`);
      await exportManifests(ctx, { actorIds: [actorId] });
      settleIntents(ctx.db, intentIds);
      report.actors.push(name);
    });
  }
  return report;
}

/** The places (file paths, object keys) of these items that something occupies now. */
async function occupiedPlaces(ctx: AppContext, s3: S3Access, items: readonly TrashItemRow[]): Promise<string[]> {
  const occupied: string[] = [];
  for (const item of items) {
    if (item.side === "local") {
      const path = ctx.layout.imagePath(item.actorName, item.filename);
      if (lstatSync(path, { throwIfNoEntry: false })) occupied.push(relative(ctx.layout.root, path));
    } else if (await headObject(s3.client, s3.s3Config.bucket, s3KeyOf(s3.s3Config, item.actorName, item.filename)))
      occupied.push(item.originalLocation);
  }
  return occupied;
}

async function restoreItem(ctx: AppContext, s3: S3Access, item: TrashItemRow, overwrite: boolean): Promise<void> {
  const actor = { id: item.actorId, name: item.actorName };
  if (item.side === "local") {
    const kept = trashPathOf(ctx, item);
    assertKeptFile(ctx, kept);
    // The occupant goes to the trash in its turn; then the item is linked back, never over anything.
    if (overwrite) await trashLocalFile(ctx, actor, item.filename, "restore");
    const target = ctx.layout.imagePath(item.actorName, item.filename);
    makeRealFolder(ctx.layout.root, dirname(target));
    markTrashItemMoving(ctx.db, item.id);
    await placeFile(ctx.layout.root, kept, target, false);
    removeEmptyFolders(ctx, dirname(kept));
  } else {
    if (overwrite) await trashObject(ctx, s3, actor, item.filename, "restore");
    markTrashItemMoving(ctx.db, item.id);
    const key = s3KeyOf(s3.s3Config, item.actorName, item.filename);
    await copyObject(s3, item.versionId ? item.originalLocation : item.trashLocation!, key, item.versionId);
    if (!item.versionId) await s3.client.send(new DeleteObjectCommand({ Bucket: s3.s3Config.bucket, Key: item.trashLocation! }));
  }
  dropTrashItem(ctx.db, item.id);
}

/** A local item's kept file must be a regular file in real folders: a link put in the trash is refused, never followed. */
function assertKeptFile(ctx: AppContext, path: string): void {
  if (!assertRealFolder(ctx.layout.root, dirname(path))) throw new UnsafePathError(path, "is not in the trash any more");
  const stats = lstatSync(path, { throwIfNoEntry: false });
  if (!stats) throw new UnsafePathError(path, "is not in the trash any more");
  if (stats.isSymbolicLink()) throw new UnsafePathError(path, symlinkReason);
  if (!stats.isFile()) throw new UnsafePathError(path, "is not a regular file");
}

/** Removes the emptied `{id}/{actor}` folders of a local item (a folder something else is in stays). */
function removeEmptyFolders(ctx: AppContext, folder: string): void {
  const trashRoot = join(ctx.layout.root, trashFolderName);
  for (let current = folder; current.startsWith(`${trashRoot}/`); current = dirname(current)) {
    try {
      rmdirSync(current);
    } catch {
      return;
    }
  }
}

export interface EmptyTrashOptions {
  ids?: readonly number[];
  /** Every item trashed before this time. */
  olderThan?: Date;
  /** Every item. */
  all?: boolean;
  dryRun?: boolean;
}

export interface EmptyTrashReport {
  dryRun: boolean;
  /** What was deleted for good (on a dry run: what would be). */
  emptied: TrashItemRow[];
  bytes: number;
  failed: { item: TrashItemRow; error: string }[];
}

/** Deletes trashed items for good: the kept files and trash-prefix objects (or kept versions), then their records. */
export async function emptyTrash(ctx: AppContext, s3: S3Access | null, options: EmptyTrashOptions): Promise<EmptyTrashReport> {
  const chosen = [options.ids !== undefined, options.olderThan !== undefined, options.all === true].filter(Boolean).length;
  if (chosen !== 1) throw new BadFilterError(options.ids ? "ids" : "olderThan", "say what to empty: ids, olderThan, or all (exactly one)");
  let items: TrashItemRow[];
  if (options.ids) {
    items = trashItemsByIds(ctx.db, options.ids);
    const unknown = [...new Set(options.ids)].filter((id) => !items.some((item) => item.id === id));
    if (unknown.length > 0) throw new UnknownTrashItemError(unknown);
  } else items = trashItemsWhere(ctx.db, options.olderThan ? { trashedBefore: options.olderThan.toISOString() } : {});
  // An item another process is moving is left to it.
  items = items.filter((item) => item.state === "kept");
  const report: EmptyTrashReport = { dryRun: options.dryRun ?? false, emptied: [], bytes: 0, failed: [] };
  for (const item of items) {
    try {
      if (!report.dryRun) await deleteForGood(ctx, s3, item);
      report.emptied.push(item);
      report.bytes += item.sizeBytes;
    } catch (error) {
      report.failed.push({ item, error: describeS3Error(error) });
    }
  }
  return report;
}

async function deleteForGood(ctx: AppContext, s3: S3Access | null, item: TrashItemRow): Promise<void> {
  if (item.side === "local") {
    const path = trashPathOf(ctx, item);
    // A link is refused, not removed and not followed.
    if (assertRealFolder(ctx.layout.root, dirname(path))) await removeRegularFile(ctx.layout.root, path);
    removeEmptyFolders(ctx, dirname(path));
  } else {
    if (!s3) throw new Error(`${item.originalLocation}: emptying the trash of S3 objects needs an S3 connection`);
    const target = item.versionId ? { Key: item.originalLocation, VersionId: item.versionId } : { Key: item.trashLocation! };
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.s3Config.bucket, ...target }));
  }
  dropTrashItem(ctx.db, item.id);
}
