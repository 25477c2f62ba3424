import pLimit from "p-limit";
import type { AppContext } from "../../context.ts";
import { imagesByActorIds } from "../../db/image-queries.ts";
import { auditActors } from "../checks/audit.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { importManifests } from "../manifests/import.ts";
import { scanActors } from "../checks/scan.ts";
import { symlinkReason } from "../files/safe-files.ts";
import { Md5Pool } from "../hashing/md5-pool.ts";
import type { PlanTotals } from "../../db/job-writes.ts";
import { addPlanTotals, planActorSync, planTotals, type ActorPlan, type OutOfSyncResolution, type SyncDirection } from "./plan.ts";
import { ActorLocks, applyActorPlan, type ActorApplyResult, type StepOutcome } from "./write-through.ts";

export interface SyncOptions {
  /** Actor row ids; omitted means every actor. */
  actorIds?: number[];
  direction?: SyncDirection;
  outOfSync?: OutOfSyncResolution;
  /** Return the plan without changing anything. */
  dryRun?: boolean;
  /** Actors applied at once (each runs its own transfers in parallel). */
  actorConcurrency?: number;
  /** Transfers in flight per actor. */
  transferConcurrency?: number;
  locks?: ActorLocks;
  onProgress?: (progress: SyncProgress) => void;
}

export interface SyncProgress {
  phase: "audit" | "transfer";
  actorsDone: number;
  actorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** The image that just finished, when there is one. */
  step?: StepOutcome & { actor: string };
}

export interface SyncReport {
  dryRun: boolean;
  plans: ActorPlan[];
  totals: PlanTotals;
  results: ActorApplyResult[];
  /** Actors that could not be planned (audit refused: S3 error, suspect listing) or applied. */
  failedActors: { name: string; error: string; suspectReasons?: string[] }[];
  failedSteps: number;
  seconds: number;
}

/**
 * Syncs actors (SPEC.md §7): reads manifests other tools changed, scans both sides (adopting
 * orphans), audits (content-verified statuses, through the hash cache), plans, and unless it is a dry run applies each actor's
 * plan through the write-through path. An actor's transfers start as soon as its own audit
 * is written, while the others are still being audited (measured: hashing 600 MB before the
 * first upload left the S3 server idle for over a second). One actor's failure never stops
 * the others.
 */
/** How often streamed bytes are reported at most (SPEC.md §9: progress at least every 250 ms). */
const liveProgressMs = 200;

export async function syncActors(ctx: AppContext, s3: S3Access, options: SyncOptions = {}): Promise<SyncReport> {
  // The hashing threads start now, while manifests are read and both sides scanned: started by
  // the audit, their start-up (0.1–0.2 s) was a sixth of a no-change re-sync of 100 actors.
  const pool = ctx.hashing ?? new Md5Pool();
  try {
    return await syncWithPool(ctx, s3, options, pool);
  } finally {
    if (pool !== ctx.hashing) await pool.close();
  }
}

async function syncWithPool(ctx: AppContext, s3: S3Access, options: SyncOptions, pool: Md5Pool): Promise<SyncReport> {
  const started = performance.now();
  const locks = options.locks ?? new ActorLocks(ctx.db);
  const report: SyncReport = {
    dryRun: options.dryRun ?? false,
    plans: [],
    totals: planTotals([]),
    results: [],
    failedActors: [],
    failedSteps: 0,
    seconds: 0,
  };
  const planOptions = {
    direction: options.direction ?? "both",
    outOfSync: options.outOfSync ?? "skip",
    s3Only: ctx.config.storageMode === "s3-only",
  } as const;
  const gate = pLimit(Math.max(1, options.actorConcurrency ?? 8));
  const applying: Promise<void>[] = [];
  let bytesDone = 0;
  let actorsDone = 0;
  let actorsTotal = 0;
  const progress = (phase: SyncProgress["phase"], step?: SyncProgress["step"]) => {
    const bytesTotal = report.totals.uploadBytes + report.totals.downloadBytes;
    options.onProgress?.({ phase, actorsDone, actorsTotal, bytesDone, bytesTotal, step });
  };

  // Bytes count as they stream, so a large file's transfer moves the figure (at most every
  // `liveProgressMs`); a finished step then counts its planned bytes, a failed one none.
  let lastLive = 0;
  const apply = async (plan: ActorPlan) => {
    const streamed = new Map<string, number>();
    try {
      const result = await locks.run(plan.actorId, () =>
        applyActorPlan(ctx, s3, plan, {
          concurrency: options.transferConcurrency ?? 8,
          onBytes: (step, bytes) => {
            streamed.set(step.filename, (streamed.get(step.filename) ?? 0) + bytes);
            bytesDone += bytes;
            if (performance.now() - lastLive < liveProgressMs) return;
            lastLive = performance.now();
            progress("transfer");
          },
          onStep: (step) => {
            bytesDone += (step.ok ? step.bytes : 0) - (streamed.get(step.filename) ?? 0);
            progress("transfer", { ...step, actor: plan.name });
          },
        }),
      );
      report.results.push(result);
      report.failedSteps += result.steps.filter((step) => !step.ok).length;
    } catch (error) {
      report.failedActors.push({ name: plan.name, error: error instanceof Error ? error.message : String(error) });
    }
  };

  await importManifests(ctx);
  // The stat scan of both sides first (SPEC.md §6): files and objects no manifest lists, and
  // actors that only a folder or a prefix tells of, are adopted and synced like the rest.
  const scanned = await scanActors(ctx, s3, { ...(options.actorIds ? { actorIds: options.actorIds } : { all: true }), exportAfter: false });
  for (const result of scanned.actors) {
    if (result.outcome !== "scanned")
      report.failedActors.push({
        name: result.name,
        error: result.error ?? result.outcome,
        ...(result.suspectReasons ? { suspectReasons: result.suspectReasons } : {}),
      });
  }
  await auditActors(ctx, s3, {
    actorIds: scanned.actors.filter((result) => result.outcome === "scanned").map((result) => result.actorId),
    pool,
    listS3: false, // the scan has just listed each actor's prefix: the audit compares with that listing
    locks,
    onProgress: ({ actorsTotal: total, result }) => {
      actorsTotal = total;
      if (result && !result.ok)
        report.failedActors.push({
          name: result.name,
          error: result.error ?? "audit failed",
          ...(result.suspectReasons ? { suspectReasons: result.suspectReasons } : {}),
        });
      // A manifest that cannot be written: nothing is changed that it could not then record.
      const unwritable = result?.exportProblems.filter((problem) => !problem.changedOnDisk) ?? [];
      if (result?.ok && unwritable.length > 0)
        report.failedActors.push({ name: result.name, error: unwritable.map((problem) => problem.reason).join("; ") });
      else if (result?.ok) {
        const plan = skipLinks(planActors(ctx, [{ id: result.actorId, name: result.name }], planOptions)[0]!, result.links);
        report.plans.push(plan);
        addPlanTotals(report.totals, plan);
        if (!report.dryRun && plan.steps.length > 0) applying.push(gate(() => apply(plan)));
      }
      if (result) actorsDone += 1;
      progress("audit");
    },
  });
  await Promise.all(applying);
  report.plans.sort((a, b) => a.name.localeCompare(b.name));
  report.results.sort((a, b) => a.name.localeCompare(b.name));
  report.failedActors.sort((a, b) => a.name.localeCompare(b.name));
  return finish(report, started);
}

function planActors(ctx: AppContext, selected: { id: number; name: string }[], options: Parameters<typeof planActorSync>[2]): ActorPlan[] {
  if (selected.length === 0) return [];
  const rows = imagesByActorIds(
    ctx.db,
    selected.map((actor) => actor.id),
  );
  return selected.map((actor, i) => planActorSync(actor, rows[i] ?? [], options));
}

/** An image whose local name is a symbolic link is neither uploaded nor downloaded (SPEC.md §3): skipped, named. */
function skipLinks(plan: ActorPlan, links: readonly string[]): ActorPlan {
  if (links.length === 0) return plan;
  const linked = new Set(links);
  const steps = plan.steps.filter((step) => !linked.has(step.filename));
  const skipped = plan.skipped.filter((entry) => !linked.has(entry.filename));
  return { ...plan, steps, skipped: [...skipped, ...links.map((filename) => ({ filename, reason: symlinkReason }))] };
}

function finish(report: SyncReport, started: number): SyncReport {
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
