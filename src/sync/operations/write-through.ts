/**
 * Folder src/sync/operations/: every change to images. plan decides the steps; write-through
 * (this file) applies them to S3, disk, SQLite and the manifests together and recovers
 * interrupted ones, one step at a time through apply-step; sync, add-images, delete-images, rate-images, trash and trash-restore,
 * prune-local are the operations on top, operation-common and deletion-limits their shared rules.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { AppContext } from "../../context.ts";
import { recordRatings } from "../../db/operation-writes.ts";
import { tryLockActors, unlockActors } from "../../db/actor-locks.ts";
import { failIntent, orphanedIntents, recordIntent, settleIntents, settleOwnActorIntents } from "../../db/intents.ts";
import { leaseOf } from "../../db/process-lease.ts";
import type { ProcessLeaseRow } from "../../db/schema.ts";
import type { Db } from "../../db/store.ts";
import type { ActorRow } from "../../db/schema.ts";
import { actorsByIds } from "../../db/actor-queries.ts";
import { auditActor } from "../checks/audit.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { settleLimit, TickBatch } from "../concurrency.ts";
import { exportManifests } from "../manifests/export.ts";
import { importManifests } from "../manifests/import.ts";
import { removeTemporaryFiles } from "../files/temporary-files.ts";
import type { ActorPlan, AddStep, PlanStep } from "./plan.ts";
import { describeS3Error } from "../s3/s3-client.ts";
import { settleTrashItems } from "./trash.ts";
import { performStep, recoverAddedImage, uploadsDoneMeanwhile } from "./apply-step.ts";

/** How long work on an actor waits for another process to let go of it before skipping it. */
export const actorLockWaitMs = 30_000;
const lockPollMs = 100;

/** Another process held the actor for the whole wait: the actor is skipped, named with who holds it. */
export class ActorBusyError extends Error {
  constructor(actor: string, holder: ProcessLeaseRow, waitedMs: number) {
    super(
      `${actor}: skipped: another process works on it (pid ${holder.pid} on ${holder.host}, \`${holder.command}\`) and did not finish within ${waitedMs / 1000} s`,
    );
    this.name = "ActorBusyError";
  }
}

/**
 * Serializes work on one actor (SPEC.md §7: "for the same actor one at a time"), within this
 * process in memory and across processes by a lock row in SQLite; other actors run in parallel.
 */
export class ActorLocks {
  private readonly tails = new Map<number, Promise<unknown>>();
  // The actors taken (and let go) in one turn of the event loop share one transaction: two commits per actor weighed more than auditing an unchanged one.
  private readonly takes = new TickBatch((actorIds: number[]) => tryLockActors(this.db, actorIds, leaseOf(this.db).ownerId));
  private readonly releases = new TickBatch((actorIds: number[]) => {
    unlockActors(this.db, actorIds, leaseOf(this.db).ownerId);
    return actorIds;
  });

  constructor(
    private readonly db: Db,
    private readonly waitMs = actorLockWaitMs,
  ) {}

  run<T>(actorId: number, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(actorId) ?? Promise.resolve();
    const locked = () => this.holding(actorId, work);
    const next = previous.then(locked, locked);
    const tail = next.catch(() => {});
    this.tails.set(actorId, tail);
    void tail.then(() => {
      if (this.tails.get(actorId) === tail) this.tails.delete(actorId);
    });
    return next;
  }

  /** Runs `work` holding the actor's SQLite lock, waiting (bounded) while another process holds it. */
  private async holding<T>(actorId: number, work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.waitMs;
    for (let holder = await this.takes.add(actorId); holder; holder = await this.takes.add(actorId)) {
      if (Date.now() >= deadline) {
        const [actor] = actorsByIds(this.db, [actorId]);
        throw new ActorBusyError(actor?.name ?? `actor ${actorId}`, holder, this.waitMs);
      }
      await sleep(lockPollMs);
    }
    try {
      return await work();
    } finally {
      await this.releases.add(actorId);
    }
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

/** A manifest file a change could not be written to, and why (never its content). */
export interface PendingFile {
  file: string;
  reason: string;
}

export interface ActorApplyResult {
  actorId: number;
  name: string;
  steps: StepOutcome[];
  manifestsWritten: string[];
  /** A manifest another tool edited meanwhile: re-imported, and the actor audited again on top of it. */
  reimported: boolean;
  /**
   * Manifests that do not say yet what the done steps did (SQLite, S3 and disk do): empty when
   * the change is complete. Written by the next change to the actor, `export`, or recovery.
   */
  pendingFiles: PendingFile[];
}

export interface ApplyOptions {
  /** Transfers of this actor in flight at once. */
  concurrency?: number;
  onStep?: (outcome: StepOutcome) => void;
  /** Bytes a transfer step has moved since it last said, as they stream (for live progress). */
  onBytes?: (step: PlanStep, bytes: number) => void;
}

/**
 * Applies one actor's plan through the single write-through path (SPEC.md §7): for each
 * step an intent in SQLite, then S3 / disk, then the rows and statistics; once all steps
 * are done, the actor's manifests; then the intents are settled. A failed step is rolled
 * back by construction (uploads are verified before the row says synced, downloads land
 * under a temporary name) and reported; the other steps go on.
 */
export async function applyActorPlan(
  ctx: AppContext,
  s3: S3Access | null,
  plan: ActorPlan,
  options: ApplyOptions = {},
): Promise<ActorApplyResult> {
  const name = plan.name;
  const rated = applyRatings(ctx, plan, options);
  const doneMeanwhile = uploadsDoneMeanwhile(ctx, plan);
  const outcomes = await settleLimit(plan.steps, options.concurrency ?? 8, async (step): Promise<StepOutcome> => {
    const rating = rated.get(step);
    if (rating) return rating;
    if (doneMeanwhile.has(step)) {
      const outcome = { filename: step.filename, kind: step.kind, bytes: step.bytes, ok: true };
      options.onStep?.(outcome);
      return outcome;
    }
    // The safe point of a shutdown: a step not begun is left for the next run, whole.
    if (ctx.stopping?.aborted)
      return { filename: step.filename, kind: step.kind, bytes: step.bytes, ok: false, error: "not started: the service is stopping" };
    const intentId = recordIntent(ctx.db, plan.actorId, step.filename, step.kind, step);
    try {
      await performStep(ctx, s3, plan.actorId, name, step, options.onBytes && ((bytes) => options.onBytes!(step, bytes)));
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
  // A rating creates prompt_metadata.json where the actor has none: ratings live there (SPEC.md §3).
  const createPromptMetadata = steps.some((step) => step.ok && step.kind === "rate");
  const written = await writeManifests(ctx, s3, plan.actorId, createPromptMetadata);
  // A manifest not written leaves the intents pending, so the state converges: the actor's
  // revision stays above the one its files were exported at, so the next change to it (or
  // `export`, or a sync's audit) writes them; the next successful write-through of the actor in
  // this process settles these intents, and once this process is gone recovery redoes the
  // steps (idempotent), audits and exports before settling them.
  if (written.pendingFiles.length === 0) settleOwnActorIntents(ctx.db, plan.actorId);
  return { actorId: plan.actorId, name, steps, ...written };
}

/**
 * The plan's ratings, applied together before its other steps: they touch only SQLite until
 * the manifests are written, so one transaction records their intents and rows (recovery
 * redoes them like any step) and refreshes the statistics once.
 */
function applyRatings(ctx: AppContext, plan: ActorPlan, options: ApplyOptions): Map<PlanStep, StepOutcome> {
  const ratings = plan.steps.filter((step) => step.kind === "rate");
  const outcomes = new Map<PlanStep, StepOutcome>();
  if (ratings.length === 0 || ctx.stopping?.aborted) return outcomes;
  recordRatings(
    ctx.db,
    plan.actorId,
    ratings.map((step) => ({ filename: step.filename, good: step.good, detail: step })),
  );
  for (const step of ratings) {
    const outcome = { filename: step.filename, kind: step.kind, bytes: step.bytes, ok: true };
    options.onStep?.(outcome);
    outcomes.set(step, outcome);
  }
  return outcomes;
}

/**
 * Exports the actor's manifests. If another tool edited one meanwhile, it is never
 * overwritten: it is imported again and the actor audited on top of it (which exports);
 * without S3 (a rating), exported again on top of what was imported. A file that still
 * cannot be written is returned as pending, named with the reason.
 */
export async function writeManifests(
  ctx: AppContext,
  s3: S3Access | null,
  actorId: number,
  createPromptMetadata = false,
): Promise<{ manifestsWritten: string[]; reimported: boolean; pendingFiles: PendingFile[] }> {
  const exported = await exportManifests(ctx, { actorIds: [actorId], createPromptMetadata });
  if (exported.problems.length === 0) return { manifestsWritten: exported.filesWritten, reimported: false, pendingFiles: [] };
  // A file that cannot be written is not settled by reading it again.
  const unwritable = exported.problems.filter((problem) => !problem.changedOnDisk);
  if (unwritable.length > 0)
    return { manifestsWritten: exported.filesWritten, reimported: false, pendingFiles: unwritable.map(pendingFileOf) };
  ctx.logger.warn(
    `${exported.problems.map((problem) => problem.file).join(", ")} changed on disk during the operation: importing it again`,
  );
  await importManifests(ctx);
  const written = [...exported.filesWritten];
  if (s3) {
    const audit = await auditActor(ctx, s3, actorId, { listS3: true, locks: null });
    if (audit.exportProblems.length > 0)
      return { manifestsWritten: written, reimported: true, pendingFiles: audit.exportProblems.map(pendingFileOf) };
    written.push(...audit.manifestsWritten);
  }
  const again = await exportManifests(ctx, { actorIds: [actorId], createPromptMetadata });
  return { manifestsWritten: [...written, ...again.filesWritten], reimported: true, pendingFiles: again.problems.map(pendingFileOf) };
}

function pendingFileOf(problem: { file: string; reason: string }): PendingFile {
  return { file: problem.file, reason: problem.reason };
}

function unexpected(reason: unknown): never {
  throw reason instanceof Error ? reason : new Error(String(reason));
}

export interface RecoveryReport {
  actors: string[];
  /** Intents settled. */
  intents: number;
  temporaryFilesRemoved: string[];
  /** Actors whose interrupted changes wait for a later run: another process holds them, or S3 or a manifest refused. */
  unsettled: string[];
}

/**
 * Settles the intents a crash left pending (SPEC.md §7) — only those whose process is gone
 * (its lease expired): another live process is still doing its own. By looking at S3 and
 * disk, under the actor's lock: temporary files of dead processes' downloads and manifest
 * writes are removed; a deletion that was asked for is finished; everything else is settled
 * by auditing the actor, which records what each side really holds (an upload not verified is
 * not synced) and writes the manifests (its own unrecorded manifest write is recognised).
 * Without S3 only actors whose interrupted changes are ratings are settled.
 */
export async function recoverIntents(ctx: AppContext, s3: S3Access | null, locks = new ActorLocks(ctx.db)): Promise<RecoveryReport> {
  // Format A manifests of every actor live in one folder: one look covers any interrupted export.
  const report: RecoveryReport = {
    actors: [],
    intents: 0,
    temporaryFilesRemoved: removeTemporaryFiles(ctx.layout.root, ctx.layout.manifestsDir),
    unsettled: [],
  };
  const orphans = orphanedIntents(ctx.db);
  // Without S3 (a rating command), only ratings can be settled; the rest waits for a command with S3.
  const needS3 = new Set(orphans.filter((intent) => intent.operation !== "rate").map((intent) => intent.actorId));
  const actorIds = new Set(orphans.map((intent) => intent.actorId).filter((actorId) => s3 !== null || !needS3.has(actorId)));
  for (const actorId of actorIds) {
    const [actor] = actorsByIds(ctx.db, [actorId]);
    if (!actor) continue;
    try {
      const settled = await locks.run(actorId, () => recoverActor(ctx, s3, actor));
      if (settled === null) report.unsettled.push(actor.name);
      else if (settled.intents > 0) {
        report.actors.push(actor.name);
        report.intents += settled.intents;
        report.temporaryFilesRemoved.push(...settled.temporaryFilesRemoved);
      }
    } catch (error) {
      if (!(error instanceof ActorBusyError)) throw error;
      ctx.logger.warn(`${error.message}; its interrupted changes are settled by a later run`);
      report.unsettled.push(actor.name);
    }
  }
  return report;
}

/** Settles one actor's orphaned intents, holding its lock; null when they must wait for a later run. */
async function recoverActor(
  ctx: AppContext,
  s3: S3Access | null,
  actor: ActorRow,
): Promise<{ intents: number; temporaryFilesRemoved: string[] } | null> {
  // Read again under the lock: another process may have settled them while this one waited.
  const actorIntents = orphanedIntents(ctx.db).filter((intent) => intent.actorId === actor.id);
  if (actorIntents.length === 0) return { intents: 0, temporaryFilesRemoved: [] };
  if (!s3 && actorIntents.some((intent) => intent.operation !== "rate")) return null;
  // Adds first: a staged file their upload finished becomes the image before the sweep removes temporary files.
  if (s3) {
    for (const intent of actorIntents.filter((intent) => intent.operation === "add")) {
      await recoverAddedImage(ctx, s3, actor.id, actor.name, JSON.parse(intent.detail ?? "{}") as AddStep);
    }
  }
  const temporaryFilesRemoved = removeTemporaryFiles(ctx.layout.root, ctx.layout.trainingDir(actor.name));
  // Trash moves need S3 to settle: without it (a rating) they wait for a command with S3.
  if (s3) await settleTrashItems(ctx, s3, actor.id);
  for (const intent of actorIntents.filter((intent) => intent.operation === "delete" || intent.operation === "rate")) {
    const step = JSON.parse(intent.detail ?? "{}") as Extract<PlanStep, { kind: "delete" | "rate" }>;
    await performStep(ctx, s3, actor.id, actor.name, step);
  }
  if (s3) {
    const audit = await auditActor(ctx, s3, actor.id, { listS3: true, locks: null });
    if (!audit.ok) {
      ctx.logger.warn(`${actor.name}: interrupted changes not settled yet: ${audit.error}`);
      return null;
    }
  }
  // As a rating does: ratings live in prompt_metadata.json, created where the actor has none.
  const exported = await exportManifests(ctx, {
    actorIds: [actor.id],
    createPromptMetadata: actorIntents.some((intent) => intent.operation === "rate"),
  });
  if (exported.problems.length > 0) {
    ctx.logger.warn(`${actor.name}: interrupted changes not settled yet: ${exported.problems.map((problem) => problem.reason).join("; ")}`);
    return null;
  }
  settleIntents(
    ctx.db,
    actorIntents.map((intent) => intent.id),
  );
  return { intents: actorIntents.length, temporaryFilesRemoved };
}
