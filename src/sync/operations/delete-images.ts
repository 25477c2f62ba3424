import type { AppContext } from "../../context.ts";
import type { ImageRow } from "../../db/schema.ts";
import type { S3Access } from "../s3/s3-client.ts";
import {
  assertImageFilename,
  imagesOf,
  MaxDeleteExceededError,
  operationReport,
  resolveActor,
  type ActorRef,
  type OperationReport,
} from "./operation-common.ts";
import { defaultMaxDelete, type DeleteFrom } from "./deletion-limits.ts";
import type { ActorPlan } from "./plan.ts";
import { ActorLocks, applyActorPlan } from "./write-through.ts";

export interface DeleteImagesOptions {
  actor: ActorRef;
  /** The images to delete; omitted means every image of the actor. */
  filenames?: string[];
  from: DeleteFrom;
  dryRun?: boolean;
  /** Refuse the whole operation when it would delete more images than this (default 100). */
  maxDelete?: number;
  locks?: ActorLocks;
}

/**
 * Deletes one image, some, or all of an actor's (SPEC.md §7): the row always (so the
 * manifests stop listing it), and as asked the S3 object and the local file, through the
 * write-through path. Hostile filenames, unknown actors and images, and plans over the
 * max-delete limit are refused before anything is touched.
 */
export async function deleteImages(ctx: AppContext, s3: S3Access | null, options: DeleteImagesOptions): Promise<OperationReport> {
  options.filenames?.forEach(assertImageFilename);
  const actor = resolveActor(ctx, options.actor);
  const rows = imagesOf(ctx, actor, options.filenames);
  const fromS3 = options.from === "s3" || options.from === "everywhere";
  const fromLocal = options.from === "disk" || options.from === "everywhere";
  if (fromS3 && !s3) throw new Error("deleting from S3 needs an S3 connection");
  const plan: ActorPlan = {
    actorId: actor.id,
    name: actor.name,
    steps: rows.map((row) => ({
      kind: "delete",
      filename: row.filename,
      bytes: bytesOf(row, fromS3, fromLocal),
      fromS3,
      fromLocal,
      toTrash: [
        ...(fromS3 ? [{ side: "s3" as const, bytes: row.s3Size ?? row.sizeBytes ?? 0 }] : []),
        ...(fromLocal ? [{ side: "local" as const, bytes: row.localSize ?? row.sizeBytes ?? 0 }] : []),
      ],
      reason: reasonOf(options.from),
    })),
    skipped: [],
  };
  const limit = options.maxDelete ?? defaultMaxDelete;
  if (plan.steps.length > limit)
    throw new MaxDeleteExceededError(limit, plan.steps.length, `delete from ${options.from} of ${actor.name}`, [plan]);
  if (options.dryRun || plan.steps.length === 0) return operationReport(options.dryRun ?? false, [plan], []);
  const locks = options.locks ?? new ActorLocks(ctx.db);
  const result = await locks.run(actor.id, () => applyActorPlan(ctx, s3, plan));
  return operationReport(false, [plan], [result]);
}

/** Bytes the deletion frees: the larger side it removes (the manifest's size when it removes no file). */
function bytesOf(row: ImageRow, fromS3: boolean, fromLocal: boolean): number {
  const sides = [fromS3 ? row.s3Size : null, fromLocal ? row.localSize : null].filter((size): size is number => size !== null);
  return sides.length > 0 ? Math.max(...sides) : (row.sizeBytes ?? 0);
}

function reasonOf(from: DeleteFrom): string {
  switch (from) {
    case "manifest":
      return "forget the image (files and objects stay)";
    case "s3":
      return "forget the image and move its S3 object to the trash";
    case "disk":
      return "forget the image and move its local file to the trash";
    case "everywhere":
      return "forget the image and move its S3 object and local file to the trash";
  }
}
