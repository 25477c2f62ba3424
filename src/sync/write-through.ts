import { stat } from "node:fs/promises";
import { readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import type { AppContext } from "../context.ts";
import { recordDeletion, recordTransfer } from "../db/image-writes.ts";
import { failIntent, pendingIntents, recordIntent, settleIntents } from "../db/intents.ts";
import { actors, images } from "../db/schema.ts";
import { auditActor, type S3Access } from "./audit.ts";
import { settleLimit } from "./concurrency.ts";
import { exportManifests } from "./export.ts";
import { importManifests } from "./import.ts";
import { s3KeyOf, s3UrlOf } from "./layout.ts";
import type { ActorPlan, PlanStep } from "./plan.ts";
import { describeS3Error } from "./s3-client.ts";
import { deleteLocalFile, deleteObject, downloadFile, temporaryPrefix, uploadFile } from "./transfer.ts";

/** Serializes work on one actor (SPEC.md §7: "for the same actor one at a time"); other actors run in parallel. */
export class ActorLocks {
  private readonly tails = new Map<number, Promise<unknown>>();

  run<T>(actorId: number, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(actorId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => {});
    this.tails.set(actorId, tail);
    void tail.then(() => {
      if (this.tails.get(actorId) === tail) this.tails.delete(actorId);
    });
    return next;
  }
}

/** What became of one step. */
export interface StepOutcome {
  filename: string;
  kind: PlanStep["kind"];
  bytes: number;
  ok: boolean;
  error?: string;
}

export interface ActorApplyResult {
  actorId: number;
  name: string;
  steps: StepOutcome[];
  manifestsWritten: string[];
  /** A manifest another tool edited meanwhile: re-imported, and the actor audited again on top of it. */
  reimported: boolean;
}

export interface ApplyOptions {
  /** Transfers of this actor in flight at once. */
  concurrency?: number;
  onStep?: (outcome: StepOutcome) => void;
}

/**
 * Applies one actor's plan through the single write-through path (SPEC.md §7): for each
 * step an intent in SQLite, then S3 / disk, then the rows and statistics; once all steps
 * are done, the actor's manifests; then the intents are settled. A failed step is rolled
 * back by construction (uploads are verified before the row says synced, downloads land
 * under a temporary name) and reported; the other steps go on.
 */
export async function applyActorPlan(ctx: AppContext, s3: S3Access, plan: ActorPlan, options: ApplyOptions = {}): Promise<ActorApplyResult> {
  const name = plan.name;
  const intentIds: number[] = [];
  const outcomes = await settleLimit(plan.steps, options.concurrency ?? 8, async (step): Promise<StepOutcome> => {
    const intentId = recordIntent(ctx.db, plan.actorId, step.filename, step.kind, step);
    try {
      await performStep(ctx, s3, plan.actorId, name, step);
      intentIds.push(intentId);
      const outcome = { filename: step.filename, kind: step.kind, bytes: step.bytes, ok: true };
      options.onStep?.(outcome);
      return outcome;
    } catch (error) {
      const message = describeS3Error(error);
      failIntent(ctx.db, intentId, message);
      const outcome = { filename: step.filename, kind: step.kind, bytes: step.bytes, ok: false, error: message };
      options.onStep?.(outcome);
      return outcome;
    }
  });
  const steps = outcomes.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : unexpected(outcome.reason)));
  const written = await writeManifests(ctx, s3, plan.actorId);
  settleIntents(ctx.db, intentIds);
  return { actorId: plan.actorId, name, steps, ...written };
}

async function performStep(ctx: AppContext, s3: S3Access, actorId: number, name: string, step: PlanStep): Promise<void> {
  const { layout, config, db } = ctx;
  const key = s3KeyOf(s3.s3Config, name, step.filename);
  const path = layout.imagePath(name, step.filename);
  switch (step.kind) {
    case "upload": {
      const stored = await uploadFile(s3, key, path, step.expectedMd5 ?? undefined);
      const local = await stat(path);
      recordTransfer(db, actorId, step.filename, {
        md5: stored.md5,
        size: stored.size,
        s3Key: key,
        s3Url: s3UrlOf(config.s3, key),
        s3Etag: stored.etag,
        s3LastModified: stored.lastModified,
        localPath: layout.relativeImagePath(name, step.filename),
        localMtimeMs: local.mtimeMs,
      });
      return;
    }
    case "download": {
      const downloaded = await downloadFile(s3, key, path, { overwrite: step.overwrite, expectedMd5: step.expectedMd5 });
      const local = await stat(path);
      const row = s3RowOf(ctx, actorId, step.filename);
      recordTransfer(db, actorId, step.filename, {
        ...downloaded,
        s3Key: key,
        s3Url: s3UrlOf(config.s3, key),
        s3Etag: row?.s3Etag ?? null,
        s3LastModified: row?.s3LastModified ?? null,
        localPath: layout.relativeImagePath(name, step.filename),
        localMtimeMs: local.mtimeMs,
      });
      return;
    }
    case "delete": {
      if (step.fromS3) await deleteObject(s3, key);
      if (step.fromLocal) await deleteLocalFile(path);
      recordDeletion(db, actorId, step.filename, null);
      return;
    }
  }
}

function s3RowOf(ctx: AppContext, actorId: number, filename: string) {
  return ctx.db.select().from(images).where(and(eq(images.actorId, actorId), eq(images.filename, filename))).get();
}

/**
 * Exports the actor's manifests. If another tool edited one meanwhile, it is never
 * overwritten: it is imported again and the actor audited on top of it (which exports).
 */
async function writeManifests(ctx: AppContext, s3: S3Access, actorId: number): Promise<{ manifestsWritten: string[]; reimported: boolean }> {
  const exported = await exportManifests(ctx, { actorIds: [actorId] });
  if (exported.problems.length === 0) return { manifestsWritten: exported.filesWritten, reimported: false };
  ctx.logger.warn(`${exported.problems.map((problem) => problem.file).join(", ")} changed on disk during the operation: importing it again`);
  await importManifests(ctx);
  const audit = await auditActor(ctx, s3, actorId);
  if (audit.exportProblems.length > 0) throw new Error(audit.exportProblems.map((problem) => problem.reason).join("; "));
  return { manifestsWritten: [...exported.filesWritten, ...audit.manifestsWritten], reimported: true };
}

function unexpected(reason: unknown): never {
  throw reason instanceof Error ? reason : new Error(String(reason));
}

export interface RecoveryReport {
  actors: string[];
  intents: number;
  temporaryFilesRemoved: string[];
}

/**
 * Settles the intents a crash left pending (SPEC.md §7), by looking at S3 and disk:
 * temporary files of interrupted downloads are removed; a deletion that was asked for is
 * finished; everything else is settled by auditing the actor, which records what each
 * side really holds (an upload not verified is not synced) and writes the manifests.
 */
export async function recoverIntents(ctx: AppContext, s3: S3Access): Promise<RecoveryReport> {
  const pending = pendingIntents(ctx.db);
  const report: RecoveryReport = { actors: [], intents: pending.length, temporaryFilesRemoved: [] };
  const byActor = new Map<number, typeof pending>();
  for (const intent of pending) byActor.set(intent.actorId, [...(byActor.get(intent.actorId) ?? []), intent]);
  for (const [actorId, actorIntents] of byActor) {
    const actor = ctx.db.select().from(actors).where(eq(actors.id, actorId)).get();
    if (!actor) continue;
    report.actors.push(actor.name);
    report.temporaryFilesRemoved.push(...removeTemporaryFiles(ctx.layout.trainingDir(actor.name)));
    for (const intent of actorIntents.filter((intent) => intent.operation === "delete")) {
      const step = JSON.parse(intent.detail ?? "{}") as Extract<PlanStep, { kind: "delete" }>;
      await performStep(ctx, s3, actorId, actor.name, step);
    }
    const audit = await auditActor(ctx, s3, actorId);
    if (!audit.ok) {
      ctx.logger.warn(`${actor.name}: interrupted changes not settled yet: ${audit.error}`);
      continue;
    }
    const exported = await exportManifests(ctx, { actorIds: [actorId] });
    if (exported.problems.length > 0) throw new Error(exported.problems.map((problem) => problem.reason).join("; "));
    settleIntents(ctx.db, actorIntents.map((intent) => intent.id));
  }
  return report;
}

function removeTemporaryFiles(folder: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(folder);
  } catch {
    return [];
  }
  const removed = entries.filter((entry) => entry.startsWith(temporaryPrefix)).map((entry) => join(folder, entry));
  for (const path of removed) unlinkSync(path);
  return removed;
}
