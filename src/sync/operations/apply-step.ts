/**
 * One step of a plan against S3, disk and SQLite (write-through.ts records its intent around
 * it and writes the manifests after): upload, download, delete, prune, add, rate; and the
 * recovery of an add a crash interrupted.
 */
import { lstatSync } from "node:fs";
import { lstat } from "node:fs/promises";
import { dirname } from "node:path";
import type { AppContext } from "../../context.ts";
import { recordDeletion, recordTransfer } from "../../db/image-writes.ts";
import { recordAddedImage, recordLocalPruned, recordRating } from "../../db/operation-writes.ts";
import { imageByFilename, imageContentsOf } from "../../db/image-queries.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { s3KeyOf, s3UrlOf } from "../files/layout.ts";
import type { ActorPlan, AddStep, CopyStep, PlanStep } from "./plan.ts";
import { headObject, isPlainMd5Etag } from "../s3/s3-client.ts";
import { openRegularFile, placeFile, removeRegularFile } from "../files/safe-files.ts";
import { trashLocalFile, trashObject } from "./trash.ts";
import { ContentChangedError, deleteObject, downloadFile, md5OfHandle, uploadFile } from "../s3/transfer.ts";

/** S3 for a step that touches it; steps without S3 (rate, forget) run without a connection. */
function needS3(s3: S3Access | null, step: PlanStep): S3Access {
  if (!s3) throw new Error(`${step.kind} of ${step.filename} needs S3, and none is connected`);
  return s3;
}

export async function performStep(
  ctx: AppContext,
  s3Access: S3Access | null,
  actorId: number,
  name: string,
  step: PlanStep,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  const { layout, config, db } = ctx;
  const key = s3KeyOf(s3Access?.s3Config ?? config.s3, name, step.filename);
  const path = layout.imagePath(name, step.filename);
  switch (step.kind) {
    case "rate": {
      recordRating(db, actorId, step.filename, step.good);
      return;
    }
    case "prune": {
      await pruneLocalCopy(ctx, needS3(s3Access, step), actorId, step.filename, key, path, step.expectedMd5);
      recordLocalPruned(db, actorId, step.filename, "s3_only");
      return;
    }
    case "add": {
      await addImage(ctx, needS3(s3Access, step), actorId, name, key, path, step);
      return;
    }
    case "delete": {
      // What a deletion removes goes to the trash first (SPEC.md §7); moving a local file there is its removal.
      if (step.fromS3) {
        await trashObject(ctx, needS3(s3Access, step), { id: actorId, name }, step.filename, "delete");
        await deleteObject(needS3(s3Access, step), key);
      }
      if (step.fromLocal) await trashLocalFile(ctx, { id: actorId, name }, step.filename, "delete");
      recordDeletion(db, actorId, step.filename, null);
      return;
    }
  }
  const s3 = needS3(s3Access, step);
  switch (step.kind) {
    case "upload": {
      // The object loses this repair: kept under the trash prefix (or as a version) before it is replaced.
      if (step.overwrite) await trashObject(ctx, s3, { id: actorId, name }, step.filename, "repair");
      const stored = await uploadFile(s3, key, layout.root, path, step.expectedMd5 ?? undefined, onBytes);
      recordTransfer(
        db,
        actorId,
        step.filename,
        {
          md5: stored.md5,
          size: stored.size,
          s3Key: key,
          s3Url: s3UrlOf(config.s3, key),
          s3Etag: stored.etag,
          s3LastModified: stored.lastModified,
          localPath: layout.relativeImagePath(name, step.filename),
          localMtimeMs: stored.fileMtimeMs,
        },
        true,
      );
      return;
    }
    case "download": {
      const downloaded = await downloadFile(s3, key, layout.root, path, {
        expectedMd5: step.expectedMd5,
        onBytes,
        // The local file loses this repair: moved to the trash once the winner is ready to take its place.
        beforePlace: step.overwrite ? () => trashLocalFile(ctx, { id: actorId, name }, step.filename, "repair") : undefined,
      });
      const local = await lstat(path);
      const row = s3RowOf(ctx, actorId, step.filename);
      recordTransfer(
        db,
        actorId,
        step.filename,
        {
          ...downloaded,
          s3Key: key,
          s3Url: s3UrlOf(config.s3, key),
          s3Etag: row?.s3Etag ?? null,
          s3LastModified: row?.s3LastModified ?? null,
          localPath: layout.relativeImagePath(name, step.filename),
          localMtimeMs: local.mtimeMs,
        },
        false,
      );
      return;
    }
  }
}

/**
 * Deletes a local copy only once S3 is seen, again, to hold the same content: the file's
 * MD5 now must be the audited one, and the object's size and content MD5 (metadata, plain
 * ETag, or the MD5 an audit established for its current ETag) must match it.
 */
async function pruneLocalCopy(
  ctx: AppContext,
  s3: S3Access,
  actorId: number,
  filename: string,
  key: string,
  path: string,
  expectedMd5: string,
): Promise<void> {
  const { handle, stat: local } = await openRegularFile(ctx.layout.root, path);
  const localMd5 = await md5OfHandle(handle).finally(() => handle.close());
  if (localMd5 !== expectedMd5) throw new ContentChangedError(path, `content MD5 is ${localMd5}, audited as ${expectedMd5}; kept`);
  const head = await headObject(s3.client, s3.s3Config.bucket, key);
  if (!head) throw new Error(`${key}: not in S3 any more; local copy kept`);
  if (head.size !== local.size) throw new Error(`${key}: S3 holds ${head.size} bytes, the file ${local.size}; local copy kept`);
  const row = s3RowOf(ctx, actorId, filename);
  const s3Md5 =
    head.metadataMd5 ?? (isPlainMd5Etag(head.etag) ? head.etag.toLowerCase() : row?.s3Md5Etag === head.etag ? row?.s3Md5 : null);
  if (s3Md5 !== localMd5) throw new Error(`${key}: S3 content MD5 ${s3Md5 ?? "unknown"} is not the file's ${localMd5}; local copy kept`);
  await removeRegularFile(ctx.layout.root, path);
}

/** Uploads a staged file verified, puts it in place locally (mirrored) without clobbering unless asked, then writes its row. */
async function addImage(
  ctx: AppContext,
  s3: S3Access,
  actorId: number,
  name: string,
  key: string,
  path: string,
  step: AddStep,
): Promise<void> {
  // Staged in the actor's folder (mirrored) or in a temporary folder of its own (s3-only).
  const stagingRoot = step.placeLocally ? ctx.layout.root : dirname(step.stagedPath);
  const stored = await uploadFile(s3, key, stagingRoot, step.stagedPath, step.md5);
  let localMtimeMs: number | null = null;
  if (step.placeLocally) {
    await placeFile(ctx.layout.root, step.stagedPath, path, step.overwrite);
    localMtimeMs = (await lstat(path)).mtimeMs;
  }
  recordAddedImage(ctx.db, actorId, {
    filename: step.filename,
    index: step.index,
    md5: stored.md5,
    size: stored.size,
    status: step.placeLocally ? "synced" : "s3_only",
    s3Key: key,
    s3Url: s3UrlOf(ctx.config.s3, key),
    s3Etag: stored.etag,
    s3LastModified: stored.lastModified,
    localPath: step.placeLocally ? ctx.layout.relativeImagePath(name, step.filename) : null,
    localMtimeMs,
    prompt: step.prompt,
    promptPreview: step.prompt === null ? null : step.prompt.slice(0, 100),
    generatedAt: new Date().toISOString(),
    generationId: step.generationId,
    source: step.source,
  });
}

/**
 * The plan's uploads whose rows say S3 already holds the audited content, verified: another
 * process uploaded them between this one's plan and its taking the actor's lock. Read once per
 * actor under that lock from the shared SQLite: no request to S3 is needed to tell, and never twice.
 */
export function uploadsDoneMeanwhile(ctx: AppContext, plan: ActorPlan): Set<PlanStep> {
  const uploads = plan.steps.filter((step): step is CopyStep => step.kind === "upload" && step.expectedMd5 !== null);
  if (uploads.length === 0) return new Set();
  const rows = imageContentsOf(ctx.db, plan.actorId);
  const byName = new Map(rows.map((row) => [row.filename, row]));
  return new Set<PlanStep>(
    uploads.filter((step) => {
      const row = byName.get(step.filename);
      return row?.status === "synced" && row.md5 === step.expectedMd5 && row.s3Md5 === step.expectedMd5;
    }),
  );
}

export function s3RowOf(ctx: AppContext, actorId: number, filename: string) {
  return imageByFilename(ctx.db, actorId, filename);
}

/**
 * An add interrupted before its row was written: if the image reached either side, its row
 * is written now (the audit that follows tells its real status); otherwise nothing was added.
 */
export async function recoverAddedImage(ctx: AppContext, s3: S3Access, actorId: number, name: string, step: AddStep): Promise<void> {
  if (s3RowOf(ctx, actorId, step.filename)) return;
  const key = s3KeyOf(s3.s3Config, name, step.filename);
  const path = ctx.layout.imagePath(name, step.filename);
  const head = await headObject(s3.client, s3.s3Config.bucket, key);
  let local = step.placeLocally && lstatSync(path, { throwIfNoEntry: false })?.isFile() === true;
  // Killed between the verified upload and putting the file in place: the staged file (fsynced) is put there now.
  if (step.placeLocally && !local && head?.metadataMd5 === step.md5 && lstatSync(step.stagedPath, { throwIfNoEntry: false })?.isFile()) {
    await placeFile(ctx.layout.root, step.stagedPath, path, false);
    local = true;
  }
  if (!head && !local) return;
  recordAddedImage(ctx.db, actorId, {
    filename: step.filename,
    index: step.index,
    md5: step.md5,
    size: step.bytes,
    status: head && local ? "synced" : head ? "s3_only" : "local_only",
    s3Key: key,
    s3Url: s3UrlOf(ctx.config.s3, key),
    s3Etag: head?.etag ?? null,
    s3LastModified: head?.lastModified ?? null,
    localPath: local ? ctx.layout.relativeImagePath(name, step.filename) : null,
    localMtimeMs: local ? (await lstat(path)).mtimeMs : null,
    prompt: step.prompt,
    promptPreview: step.prompt === null ? null : step.prompt.slice(0, 100),
    generatedAt: new Date().toISOString(),
    generationId: step.generationId,
    source: step.source,
  });
}
