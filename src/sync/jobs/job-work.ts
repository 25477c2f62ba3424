import type { AppContext } from "../../context.ts";
import { actorsForAudit } from "../../db/audit-writes.ts";
import type { StatusCounts, SyncStatus } from "../../db/schema.ts";
import type { JobActorWrite, PlanTotals } from "../../db/job-writes.ts";
import { auditActors, type ActorAuditResult, type AuditReport } from "../checks/audit.ts";
import type { JobKind, JobReporter, JobRunner } from "./jobs.ts";
import type { OperationReport } from "../operations/operation-common.ts";
import { pruneLocal, type PruneLocalOptions, type PruneLocalReport } from "../operations/prune-local.ts";
import { planTotals, type ActorPlan, type OutOfSyncResolution, type SyncDirection, type TrashedLoser } from "../operations/plan.ts";
import { scanActors, type ActorScanResult, type ScanActorsOptions, type ScanReport } from "../checks/scan.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { syncActors, type SyncOptions, type SyncReport } from "../operations/sync.ts";

/** Which actors a job works on. */
export type ActorSelection = { actorIds: number[] } | { all: true };

/** One planned or applied step of an actor's outcome. */
export interface OutcomeStep {
  kind: string;
  filename: string;
  bytes: number;
  overwrite: boolean;
  /** What the step moves to the trash before it replaces or deletes it. */
  toTrash: TrashedLoser[];
  reason: string;
  /** False for a dry run (planned only). */
  applied: boolean;
  /** Null when not applied. */
  ok: boolean | null;
  error: string | null;
}

/**
 * What a job (or an inline mutation) did to one actor, kept as JSON in `job_actors.outcome`.
 * Each kind fills the parts it knows: scan and audit the counts and changes, sync the plan.
 */
export interface ActorOutcome {
  counts?: Partial<StatusCounts>;
  statusChanges?: { filename: string; from: SyncStatus | null; to: SyncStatus | null }[];
  totals?: PlanTotals;
  steps?: OutcomeStep[];
  skipped?: { filename: string; reason: string }[];
  added?: string[];
  removed?: string[];
  changed?: string[];
  needsAudit?: string[];
  manifestsWritten?: string[];
  /** Manifests not written after the steps were done (written by a later change, export or recovery). */
  pendingFiles?: { file: string; reason: string }[];
  /** Bytes of local files an audit read (cache hits read nothing). */
  bytesHashed?: number;
}

export interface ScanJobOptions {
  allowSuspect?: boolean;
}

export interface AuditJobOptions extends ScanJobOptions {
  /** List S3 first instead of comparing with the last listing. */
  listS3?: boolean;
}

export interface SyncJobOptions {
  direction: SyncDirection;
  outOfSync: OutOfSyncResolution;
  dryRun: boolean;
}

type JobContext = AppContext & { jobs: JobRunner; s3: S3Access };

/** Scans the selected actors as a job (SPEC.md §6): one actor row as each finishes. */
export function startScanJob(ctx: JobContext, selection: ActorSelection, options: ScanJobOptions = {}): number {
  return startActorJob(ctx, "scan", selection, options, {}, "scan", async (reporter, selected) => {
    await reportedScan(ctx, ctx.s3, reporter, { actorIds: selected.map((actor) => actor.id), allowSuspect: options.allowSuspect });
  });
}

/** Audits the selected actors as a job (content check through the hash cache). */
export function startAuditJob(ctx: JobContext, selection: ActorSelection, options: AuditJobOptions = {}): number {
  return startActorJob(ctx, "audit", selection, options, {}, "audit", async (reporter, selected) => {
    await reportedAudit(ctx, ctx.s3, reporter, {
      actorIds: selected.map((actor) => actor.id),
      allowSuspect: options.allowSuspect,
      listS3: options.listS3,
      locks: ctx.jobs.locks,
    });
  });
}

/**
 * Syncs the selected actors as a job (SPEC.md §7); a dry run records each actor's plan and
 * changes nothing. `all` syncs like the CLI's `sync --all`: the stat scan of both sides
 * first adopts the actors only a folder or a prefix tells of.
 */
export function startSyncJob(ctx: JobContext, selection: ActorSelection, options: SyncJobOptions): number {
  return startActorJob(ctx, "sync", selection, options, { dryRun: options.dryRun }, "audit", async (reporter, selected) => {
    await reportedSync(ctx, ctx.s3, reporter, {
      actorIds: "all" in selection ? undefined : selected.map((actor) => actor.id),
      direction: options.direction,
      outOfSync: options.outOfSync,
      dryRun: options.dryRun,
      locks: ctx.jobs.locks,
    });
  });
}

/** A scan told to a job as it goes (the server's jobs and the CLI's runs alike): each actor's row as it finishes. */
export async function reportedScan(ctx: AppContext, s3: S3Access, reporter: JobReporter, options: ScanActorsOptions): Promise<ScanReport> {
  return scanActors(ctx, s3, {
    ...options,
    onProgress: (done, total, result) => {
      options.onProgress?.(done, total, result);
      reporter.progress({ actorsDone: done, actorsTotal: total });
      reporter.actor(scanRow(result));
      if (result.outcome === "scanned") reporter.actorChanged({ id: result.actorId, name: result.name });
    },
  });
}

/** An audit told to a job as it goes: progress and each audited actor's change, then every actor's row. */
export async function reportedAudit(
  ctx: AppContext,
  s3: S3Access,
  reporter: JobReporter,
  options: Parameters<typeof auditActors>[2],
): Promise<AuditReport> {
  const report = await auditActors(ctx, s3, {
    ...options,
    onProgress: (progress) => {
      options.onProgress?.(progress);
      reporter.progress({ actorsDone: progress.actorsDone, actorsTotal: progress.actorsTotal, bytesDone: progress.bytesHashed });
      if (progress.result) reporter.actorChanged({ id: progress.result.actorId, name: progress.result.name });
    },
  });
  reporter.progress({ bytesTotal: report.bytesHashed, bytesDone: report.bytesHashed });
  for (const result of report.actors) reporter.actor(auditRow(result));
  return report;
}

/** A sync told to a job as it goes: progress by phase, each actor as its transfers start, then each actor's plan and outcome. */
export async function reportedSync(ctx: AppContext, s3: S3Access, reporter: JobReporter, options: SyncOptions): Promise<SyncReport> {
  const announced = new Set<string>();
  const report = await syncActors(ctx, s3, {
    ...options,
    onProgress: (progress) => {
      options.onProgress?.(progress);
      const { actorsDone, actorsTotal, bytesDone, bytesTotal, phase } = progress;
      reporter.progress({ actorsDone, actorsTotal, bytesDone, bytesTotal, phase });
      const actor = progress.step?.actor;
      if (actor && !announced.has(actor)) {
        announced.add(actor);
        reporter.actorChanged({ id: null, name: actor });
      }
    },
  });
  const rows = syncRows(report);
  reporter.progress({ actorsDone: rows.length, actorsTotal: rows.length, phase: "done" });
  for (const row of rows) reporter.actor(row);
  // Every audited actor's statuses were just checked, so its rows changed even with nothing to copy.
  for (const plan of report.plans) reporter.actorChanged({ id: plan.actorId, name: plan.name });
  return report;
}

/** A prune told to a job: progress while auditing, then each actor's plan and outcome. */
export async function reportedPrune(
  ctx: AppContext,
  s3: S3Access,
  reporter: JobReporter,
  options: PruneLocalOptions,
): Promise<PruneLocalReport> {
  const report = await pruneLocal(ctx, s3, {
    ...options,
    onProgress: (progress) => {
      options.onProgress?.(progress);
      reporter.progress({ actorsDone: progress.actorsDone, actorsTotal: progress.actorsTotal });
    },
  });
  const rows = syncRows({
    dryRun: report.dryRun,
    plans: report.plans,
    totals: report.totals,
    results: report.results,
    failedActors: report.failedActors,
    failedSteps: report.failedSteps,
    seconds: 0,
  });
  reporter.progress({ actorsDone: rows.length, phase: "done" });
  for (const row of rows) reporter.actor(row);
  if (!report.dryRun)
    for (const plan of report.plans) if (plan.steps.length > 0) reporter.actorChanged({ id: plan.actorId, name: plan.name });
  return report;
}

/** What an image operation (rate, delete, add) did, told to a job: each actor's plan and outcome, and the actors it changed. */
export function reportOperation(reporter: JobReporter, report: OperationReport): void {
  const rows = syncRows({ ...report, failedActors: [], seconds: 0 });
  reporter.progress({ actorsDone: rows.length, actorsTotal: rows.length, phase: "done" });
  for (const row of rows) reporter.actor(row);
  if (!report.dryRun) for (const result of report.results) reporter.actorChanged({ id: result.actorId, name: result.name });
}

export function scanOutcome(result: ActorScanResult): ActorOutcome {
  return {
    counts: result.counts,
    statusChanges: result.statusChanges,
    added: result.added,
    removed: [...new Set([...result.removedFromS3, ...result.removedLocally])].sort(),
    changed: result.changed,
    needsAudit: result.needsAudit,
    manifestsWritten: result.exportedFiles,
  };
}

export function auditOutcome(result: ActorAuditResult): ActorOutcome {
  return {
    counts: result.counts,
    statusChanges: result.statusChanges,
    manifestsWritten: result.manifestsWritten,
    bytesHashed: result.bytesHashed,
  };
}

/** Each planned actor's plan (and, unless a dry run, what became of each step); actors that failed with their error. */
export function syncRows(report: SyncReport): JobActorWrite[] {
  const results = new Map(report.results.map((result) => [result.actorId, result]));
  const failed = new Map(report.failedActors.map((failure) => [failure.name, failure.error]));
  const rows: JobActorWrite[] = report.plans.map((plan) => {
    const outcome = syncOutcome(plan, report.dryRun, results.get(plan.actorId));
    const failedSteps = outcome.steps?.filter((step) => step.ok === false) ?? [];
    const pending = outcome.pendingFiles?.map((file) => file.reason).join("; ");
    const error =
      failed.get(plan.name) ??
      (failedSteps.length > 0
        ? `${failedSteps.length} of ${outcome.steps!.length} steps failed`
        : pending
          ? `steps done, manifest not written yet: ${pending}`
          : null);
    return { actorId: plan.actorId, actorName: plan.name, state: error ? "failed" : "succeeded", outcome, error };
  });
  const planned = new Set(report.plans.map((plan) => plan.name));
  for (const failure of report.failedActors)
    if (!planned.has(failure.name))
      rows.push({ actorId: null, actorName: failure.name, state: "failed", outcome: {}, error: failure.error });
  return rows;
}

export function syncOutcome(plan: ActorPlan, dryRun: boolean, result: SyncReport["results"][number] | undefined): ActorOutcome {
  const applied = new Map(result?.steps.map((step) => [step.filename, step]) ?? []);
  return {
    totals: planTotals([plan]),
    steps: plan.steps.map((step) => {
      const outcome = dryRun ? undefined : applied.get(step.filename);
      return {
        kind: step.kind,
        filename: step.filename,
        bytes: step.bytes,
        overwrite: "overwrite" in step ? step.overwrite : false,
        toTrash: "toTrash" in step ? step.toTrash : [],
        reason: step.reason,
        applied: outcome !== undefined,
        ok: outcome ? outcome.ok : null,
        error: outcome?.error ?? null,
      };
    }),
    skipped: plan.skipped,
    manifestsWritten: result?.manifestsWritten ?? [],
    pendingFiles: result?.pendingFiles ?? [],
  };
}

function scanRow(result: ActorScanResult): JobActorWrite {
  return {
    actorId: result.actorId,
    actorName: result.name,
    state: result.outcome === "scanned" ? "succeeded" : "failed",
    outcome: scanOutcome(result),
    error: result.error ?? (result.exportProblems.length > 0 ? `manifest not written: ${result.exportProblems.join("; ")}` : null),
  };
}

function auditRow(result: ActorAuditResult): JobActorWrite {
  const exportProblem = result.exportProblems.map((problem) => `${problem.file}: ${problem.reason}`).join("; ");
  return {
    actorId: result.actorId,
    actorName: result.name,
    state: result.ok ? "succeeded" : "failed",
    outcome: auditOutcome(result),
    error: result.error ?? (exportProblem ? `manifest not written: ${exportProblem}` : null),
  };
}

/**
 * Starts a job over the selected actors, read once: recorded by name (row ids mean nothing
 * to a reader of the job history), shown as pending, then handed to `work`.
 */
function startActorJob(
  ctx: JobContext,
  kind: JobKind,
  selection: ActorSelection,
  params: object,
  options: { dryRun?: boolean },
  phase: string,
  work: (reporter: JobReporter, selected: { id: number; name: string }[]) => Promise<void>,
): number {
  const all = "all" in selection;
  const selected = actorsForAudit(ctx.db, all ? "all" : selection.actorIds);
  const recorded = { all, actors: all ? [] : selected.map((actor) => actor.name), ...params };
  return ctx.jobs.start(kind, recorded, options, async (reporter) => {
    reporter.progress({ actorsTotal: selected.length, phase });
    reporter.actorsPending(selected);
    await work(reporter, selected);
  });
}

export interface PruneLocalJobOptions {
  dryRun: boolean;
  maxDelete?: number;
  allowSuspect?: boolean;
  switchToS3Only?: boolean;
}

/**
 * Prunes local copies S3 verifiably holds (SPEC.md §5) as a job: each actor's row lists the
 * files deleted (or, for a dry run, to delete) and those kept with the reason. A plan over
 * the max-delete limit fails the job before anything is deleted.
 */
export function startPruneLocalJob(ctx: JobContext, selection: ActorSelection, options: PruneLocalJobOptions): number {
  return startActorJob(ctx, "prune_local", selection, options, { dryRun: options.dryRun }, "audit", async (reporter, selected) => {
    await reportedPrune(ctx, ctx.s3, reporter, {
      actorIds: selected.map((actor) => actor.id),
      dryRun: options.dryRun,
      maxDelete: options.maxDelete,
      allowSuspect: options.allowSuspect,
      switchToS3Only: options.switchToS3Only,
      locks: ctx.jobs.locks,
    });
  });
}
