import { constants, lstatSync } from "node:fs";
import { copyFile, lstat, rename, unlink } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { CopyObjectCommand, GetBucketVersioningCommand, type S3Client } from "@aws-sdk/client-s3";
import type { AppContext } from "../../context.ts";
import { imageByFilename } from "../../db/image-queries.ts";
import type { TrashItemRow } from "../../db/schema.ts";
import { dropTrashItem, keepTrashItem, keptTrashItemWith, movingTrashItemsOf, recordTrashItem } from "../../db/trash-items.ts";
import type { S3Config } from "../../config.ts";
import { knownS3ContentMd5 } from "../s3/content-md5.ts";
import { s3KeyOf } from "../files/layout.ts";
import { headObject, isNotFound, type S3Access } from "../s3/s3-client.ts";
import { assertRealFolder, fsyncFolder, makeRealFolder, openRegularFile, symlinkReason, UnsafePathError } from "../files/safe-files.ts";
import { md5OfHandle, temporaryPathIn } from "../s3/transfer.ts";

/**
 * The trash (SPEC.md §7, losers are kept): the content a repair replaces and the files and
 * objects a deletion removes are kept, not destroyed, like rclone bisync's `--backup-dir`.
 * A local file is moved (renamed) to `$DATA_DIR/.trash/{id}/{actor}/{filename}`; an object is
 * copied server-side to `{S3_PREFIX}.trash/{id}/{actor}/{filename}` before it is overwritten
 * or deleted, unless the bucket keeps versions (then the version id is what keeps it). Both
 * names start with a `.`, which no actor name can: scans never take them for an actor.
 * Each item is recorded `moving` before it is touched, so a crash between the trash and the
 * destructive step leaves a record recovery settles by looking (`settleTrashItems`).
 */

export const trashFolderName = ".trash";

export type TrashOrigin = TrashItemRow["origin"];
export interface TrashActor {
  id: number;
  name: string;
}

/** Where a trashed object is kept: beside the actors' prefixes, under a name no actor can have. */
export function trashKeyOf(s3: S3Config, id: number, actor: string, filename: string): string {
  return `${s3.prefix}${trashFolderName}/${id}/${actor}/${filename}`;
}

/** The absolute path of a local item's kept file. */
export function trashPathOf(ctx: AppContext, item: TrashItemRow): string {
  return join(ctx.layout.root, item.trashLocation!);
}

/**
 * Moves an actor's local file to the trash (the move is its removal): a rename within the data
 * directory, never a copy where a rename works. Null when there is no file; a link in its place
 * is refused, not followed or moved.
 */
export async function trashLocalFile(
  ctx: AppContext,
  actor: TrashActor,
  filename: string,
  origin: TrashOrigin,
): Promise<TrashItemRow | null> {
  const { layout, db } = ctx;
  const path = layout.imagePath(actor.name, filename);
  if (!assertRealFolder(layout.root, dirname(path))) return null;
  const stats = lstatSync(path, { throwIfNoEntry: false });
  if (!stats) return null;
  if (stats.isSymbolicLink()) throw new UnsafePathError(path, symlinkReason);
  if (!stats.isFile()) throw new UnsafePathError(path, "is not a regular file");
  const item = recordTrashItem(
    db,
    {
      actorId: actor.id,
      actorName: actor.name,
      filename,
      side: "local",
      origin,
      originalLocation: relative(layout.root, path),
      sizeBytes: stats.size,
    },
    (id) => join(trashFolderName, String(id), actor.name, filename),
  );
  const kept = trashPathOf(ctx, item);
  try {
    makeRealFolder(layout.root, dirname(kept));
    await moveFile(path, kept);
  } catch (error) {
    dropTrashItem(db, item.id);
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  await fsyncFolder(dirname(path));
  return keepLocal(ctx, item);
}

/** A rename; across file systems (the actors' folder a mount of its own) a copy put in place by a rename, then the unlink. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    const temporary = temporaryPathIn(dirname(to));
    await copyFile(from, temporary, constants.COPYFILE_EXCL);
    await rename(temporary, to);
    await unlink(from);
  }
}

/** Records a local item as kept, with the MD5 and size of what its trash file holds. */
async function keepLocal(ctx: AppContext, item: TrashItemRow): Promise<TrashItemRow> {
  const path = trashPathOf(ctx, item);
  await fsyncFolder(dirname(path));
  const { handle, stat } = await openRegularFile(ctx.layout.root, path);
  const md5 = await md5OfHandle(handle).finally(() => handle.close());
  keepTrashItem(ctx.db, item.id, { md5, sizeBytes: stat.size });
  return { ...item, md5, sizeBytes: stat.size, state: "kept" };
}

/**
 * Keeps an actor's S3 object before it is overwritten or deleted: copied server-side under the
 * trash prefix and the copy checked, or, in a bucket that keeps versions, its version id
 * recorded. Null when there is no object.
 */
export async function trashObject(
  ctx: AppContext,
  s3: S3Access,
  actor: TrashActor,
  filename: string,
  origin: TrashOrigin,
): Promise<TrashItemRow | null> {
  const { bucket } = s3.s3Config;
  const key = s3KeyOf(s3.s3Config, actor.name, filename);
  const head = await headObject(s3.client, bucket, key);
  if (!head) return null;
  const row = imageByFilename(ctx.db, actor.id, filename);
  const { md5 } = knownS3ContentMd5(head.etag, { metadataMd5: head.metadataMd5, s3Md5: row?.s3Md5, s3Md5Etag: row?.s3Md5Etag });
  const item = {
    actorId: actor.id,
    actorName: actor.name,
    filename,
    side: "s3" as const,
    origin,
    originalLocation: key,
    sizeBytes: head.size,
    md5,
  };
  // Already kept (a deletion recovery finishes after its copy was made): not copied twice.
  const kept = md5 ? keptTrashItemWith(ctx.db, { ...item, md5 }) : undefined;
  if (kept) return kept;
  if (head.versionId && (await keepsVersions(s3))) {
    const recorded = recordTrashItem(ctx.db, { ...item, versionId: head.versionId }, null);
    keepTrashItem(ctx.db, recorded.id, { md5, sizeBytes: head.size });
    return { ...recorded, state: "kept" };
  }
  const recorded = recordTrashItem(ctx.db, item, (id) => trashKeyOf(s3.s3Config, id, actor.name, filename));
  const trashKey = recorded.trashLocation!;
  try {
    await copyObject(s3, key, trashKey);
  } catch (error) {
    await settleTrashItem(ctx, s3, recorded);
    if (isNotFound(error)) return null;
    throw error;
  }
  const copied = await headObject(s3.client, bucket, trashKey);
  if (copied?.size !== head.size)
    throw new Error(
      `${key}: its copy ${trashKey} is ${copied ? `${copied.size} bytes, not ${head.size}` : "not there"}; the object was left as it is`,
    );
  keepTrashItem(ctx.db, recorded.id, { md5, sizeBytes: head.size });
  return { ...recorded, state: "kept" };
}

/** A server-side copy within the bucket (`versionId`: of that version of `from`). */
export async function copyObject(s3: S3Access, from: string, to: string, versionId?: string | null): Promise<void> {
  const { bucket } = s3.s3Config;
  const source = `${encodeURIComponent(bucket)}/${from.split("/").map(encodeURIComponent).join("/")}${versionId ? `?versionId=${encodeURIComponent(versionId)}` : ""}`;
  await s3.client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, MetadataDirective: "COPY" }));
}

const versioning = new WeakMap<S3Client, Promise<boolean>>();

/** Whether the bucket keeps versions (asked once per client); a bucket that will not say is treated as not keeping them: the copy is the safe side. */
function keepsVersions(s3: S3Access): Promise<boolean> {
  let answer = versioning.get(s3.client);
  if (!answer) {
    answer = s3.client.send(new GetBucketVersioningCommand({ Bucket: s3.s3Config.bucket })).then(
      (result) => result.Status === "Enabled",
      () => false,
    );
    versioning.set(s3.client, answer);
  }
  return answer;
}

/** Whether an item is where its row says it is kept. */
export async function isInTrash(ctx: AppContext, s3: S3Access | null, item: TrashItemRow): Promise<boolean> {
  if (item.side === "local") {
    const path = trashPathOf(ctx, item);
    return (
      assertRealFolder(ctx.layout.root, dirname(path)) &&
      (await lstat(path).then(
        () => true,
        () => false,
      ))
    );
  }
  if (!s3) throw new Error(`${item.originalLocation}: the trash of S3 objects needs an S3 connection`);
  const head = item.versionId
    ? await headObject(s3.client, s3.s3Config.bucket, item.originalLocation, item.versionId)
    : await headObject(s3.client, s3.s3Config.bucket, item.trashLocation!);
  return head !== null;
}

/** Settles an item a crash (or a failed step) left `moving`: kept when it is in the trash, forgotten when it is not. */
export async function settleTrashItem(ctx: AppContext, s3: S3Access | null, item: TrashItemRow): Promise<void> {
  if (!(await isInTrash(ctx, s3, item))) dropTrashItem(ctx.db, item.id);
  else if (item.side === "local") await keepLocal(ctx, item);
  else keepTrashItem(ctx.db, item.id, { md5: item.md5, sizeBytes: item.sizeBytes });
}

/** Recovery (SPEC.md §7): settles the actor's items an interrupted trash or restore left `moving`; its lock is held. */
export async function settleTrashItems(ctx: AppContext, s3: S3Access, actorId: number): Promise<void> {
  for (const item of movingTrashItemsOf(ctx.db, actorId)) await settleTrashItem(ctx, s3, item);
}
