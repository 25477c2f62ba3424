import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppContext } from "../../context.ts";
import { imageByFilename } from "../../db/image-queries.ts";
import { createGeneration, settleGeneration } from "../../db/operation-writes.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { imageIndexOf, s3KeyOf } from "../files/layout.ts";
import {
  assertImageFilename,
  ImageExistsError,
  operationReport,
  resolveActor,
  type ActorRef,
  type OperationReport,
} from "./operation-common.ts";
import type { ActorPlan, AddStep } from "./plan.ts";
import { headObject } from "../s3/s3-client.ts";
import { createNewFile, makeRealFolder } from "../files/safe-files.ts";
import { removeTemporaryFiles } from "../files/temporary-files.ts";
import { temporaryPathIn } from "../s3/transfer.ts";
import { ActorLocks, applyActorPlan } from "./write-through.ts";

/** One image to add: a file (CLI) or bytes (a GraphQL upload). */
export interface NewImage {
  filename: string;
  path?: string;
  bytes?: Uint8Array;
  prompt?: string | null;
}

export interface AddImagesOptions {
  actor: ActorRef;
  images: NewImage[];
  /** Type of the generation row the batch gets (default `upload`). */
  generationType?: string;
  generationMetadata?: unknown;
  /** Replace images the actor already has (row, local file or S3 object); default refuse. */
  overwrite?: boolean;
  dryRun?: boolean;
  locks?: ActorLocks;
}

export interface AddImagesReport extends OperationReport {
  /** The generation the added images belong to (its key within the actor), null on a dry run or when none was added. */
  generation: { key: number; type: string; imageCount: number } | null;
}

/**
 * Adds images to an actor (SPEC.md §7): each is staged in a temporary file (fsynced),
 * uploaded with its MD5 in `x-amz-meta-md5` and verified, put in place locally without
 * clobbering (mirrored mode; s3-only uploads only), and given a row with its prompt and a
 * new generation, through the write-through path. Existing images are refused unless
 * `overwrite`.
 */
export async function addImages(ctx: AppContext, s3: S3Access, options: AddImagesOptions): Promise<AddImagesReport> {
  const seen = new Set<string>();
  for (const image of options.images) {
    assertImageFilename(image.filename);
    if (seen.has(image.filename)) throw new Error(`${image.filename} is given twice`);
    seen.add(image.filename);
    if ((image.path === undefined) === (image.bytes === undefined)) throw new Error(`${image.filename}: give either a file or bytes`);
  }
  const actor = resolveActor(ctx, options.actor);
  const placeLocally = ctx.config.storageMode !== "s3-only";
  const overwrite = options.overwrite ?? false;

  const existing: string[] = [];
  const sizes = new Map<string, number>();
  for (const image of options.images) {
    sizes.set(image.filename, image.bytes ? image.bytes.length : (await stat(image.path!)).size);
    const key = s3KeyOf(s3.s3Config, actor.name, image.filename);
    const there =
      imageByFilename(ctx.db, actor.id, image.filename) !== null ||
      (placeLocally && existsSync(ctx.layout.imagePath(actor.name, image.filename))) ||
      (await headObject(s3.client, s3.s3Config.bucket, key)) !== null;
    if (there) existing.push(image.filename);
  }
  if (existing.length > 0 && !overwrite) throw new ImageExistsError(actor.name, existing);

  const stepOf = (image: NewImage, stagedPath: string, md5: string, generationId: number | null): AddStep => ({
    kind: "add",
    filename: image.filename,
    bytes: sizes.get(image.filename)!,
    md5,
    stagedPath,
    placeLocally,
    overwrite: existing.includes(image.filename),
    prompt: image.prompt ?? null,
    generationId,
    index: imageIndexOf(actor.name, image.filename),
    source: options.generationType ?? "upload",
    reason: existing.includes(image.filename) ? "replace with the given content" : "new image",
  });
  if (options.dryRun) {
    const plan: ActorPlan = {
      actorId: actor.id,
      name: actor.name,
      steps: options.images.map((image) => stepOf(image, "", "", null)),
      skipped: [],
    };
    return { ...operationReport(true, [plan], []), generation: null };
  }

  // Staged beside the target (same file system: the final link or rename is atomic, and
  // recovery removes leftovers by their prefix); in s3-only mode in a temporary folder.
  const stagingDir = placeLocally ? ctx.layout.trainingDir(actor.name) : await mkdtemp(join(tmpdir(), "am-add-"));
  // Staged files are only written in real folders of the data directory (a link is never followed).
  const stagingRoot = placeLocally ? ctx.layout.root : stagingDir;
  if (placeLocally) makeRealFolder(stagingRoot, stagingDir);
  const staged: string[] = [];
  const locks = options.locks ?? new ActorLocks(ctx.db);
  try {
    return await locks.run(actor.id, async () => {
      // A run killed while staging left its files with no intent to recover them by: gone now.
      if (placeLocally) removeTemporaryFiles(stagingRoot, stagingDir);
      const type = options.generationType ?? "upload";
      const generation = createGeneration(ctx.db, actor.id, type, options.generationMetadata, options.images.length);
      const steps: AddStep[] = [];
      for (const image of options.images) {
        const stagedPath = temporaryPathIn(stagingDir);
        staged.push(stagedPath);
        const md5 = await stageFile(image, stagingRoot, stagedPath);
        steps.push(stepOf(image, stagedPath, md5, generation.id));
      }
      const plan: ActorPlan = { actorId: actor.id, name: actor.name, steps, skipped: [] };
      const result = await applyActorPlan(ctx, s3, plan);
      const imageCount = result.steps.filter((step) => step.ok).length;
      settleGeneration(ctx.db, generation.id, imageCount);
      return { ...operationReport(false, [plan], [result]), generation: imageCount > 0 ? { key: generation.key, type, imageCount } : null };
    });
  } finally {
    for (const path of staged) await unlink(path).catch(() => {});
    if (!placeLocally) await rm(stagingDir, { recursive: true, force: true });
  }
}

/** Writes the image's content to a new staging file under `root`, fsynced, and returns its MD5. */
async function stageFile(image: NewImage, root: string, stagedPath: string): Promise<string> {
  const content = image.bytes ?? (await readFile(image.path!));
  const file = await createNewFile(root, stagedPath);
  try {
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
  return createHash("md5").update(content).digest("hex");
}
