import pLimit from "p-limit";
import { configFilePath, readConfigFile, writeStorageMode } from "../../config-file.ts";
import type { AppContext } from "../../context.ts";
import { imagesByActorIds } from "../../db/image-queries.ts";
import type { ImageRow, SyncStatus } from "../../db/schema.ts";
import { auditActors, type AuditProgress } from "../checks/audit.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { defaultMaxDelete } from "./deletion-limits.ts";
import { MaxDeleteExceededError, operationReport, type OperationReport } from "./operation-common.ts";
import type { ActorPlan } from "./plan.ts";
import { ActorLocks, applyActorPlan, type ActorApplyResult } from "./write-through.ts";

export interface PruneLocalOptions {
  /** Actor row ids; omitted means every actor. */
  actorIds?: number[];
  dryRun?: boolean;
  /** Refuse the whole operation when it would delete more local files than this (default 100). */
  maxDelete?: number;
  /** Audit even when a listing looks suspect (SPEC.md §6 override). */
  allowSuspect?: boolean;
  locks?: ActorLocks;
  onProgress?: (progress: AuditProgress) => void;
  /** Record the data directory as s3-only first: pruning a mirrored data directory is refused otherwise. */
  switchToS3Only?: boolean;
}

/**
 * Pruning asked of a data directory whose recorded mode is mirrored: its next sync would
 * download everything pruned again (SPEC.md §5). The mode is switched on request only.
 */
export class StorageModeError extends Error {
  override name = "StorageModeError";
  constructor(readonly file: string) {
    super(
      `prune-local deletes local copies, which the data directory's mirrored mode (${file}) would download again: switch it to s3-only with --switch-to-s3-only (GraphQL: switchToS3Only: true)`,
    );
  }
}

export interface KeptImage {
  actor: string;
  filename: string;
  status: SyncStatus | null;
  reason: string;
}

export interface PruneLocalReport extends OperationReport {
  /** Local files left in place, and why. */
  kept: KeptImage[];
  /** Actors not audited (S3 refused, suspect listing): nothing of theirs was pruned. */
  failedActors: { name: string; error: string }[];
}

/**
 * Converts a mirrored set to s3-only (SPEC.md §5): audits the actors with content MD5s
 * (as in mirrored mode, whatever the configured mode), and deletes a local file only when
 * the audit found it SYNCED; each deletion re-checks the file's MD5 and the object before
 * it happens. Every other local file is kept, with the reason.
 */
export async function pruneLocal(ctx: AppContext, s3: S3Access, options: PruneLocalOptions = {}): Promise<PruneLocalReport> {
  assertPrunable(ctx, options.switchToS3Only ?? false);
  // The audit must see the local side, which s3-only mode does not look at.
  const mirrored: AppContext = { ...ctx, config: { ...ctx.config, storageMode: "mirrored" } };
  const audit = await auditActors(mirrored, s3, {
    ...(options.actorIds ? { actorIds: options.actorIds } : { all: true as const }),
    allowSuspect: options.allowSuspect,
    listS3: true, // S3 must hold the content now, not at the last listing
    locks: options.locks,
    onProgress: options.onProgress,
  });
  const failedActors = audit.actors.filter((a) => !a.ok).map((a) => ({ name: a.name, error: a.error ?? "audit failed" }));
  const audited = audit.actors.filter((a) => a.ok);
  const rows = imagesByActorIds(
    ctx.db,
    audited.map((a) => a.actorId),
  );
  const kept: KeptImage[] = [];
  const plans: ActorPlan[] = audited.map((actor, i) => {
    const plan: ActorPlan = { actorId: actor.actorId, name: actor.name, steps: [], skipped: [] };
    for (const row of rows[i] ?? []) {
      if (row.status === "synced" && row.md5 !== null) {
        plan.steps.push({
          kind: "prune",
          filename: row.filename,
          bytes: row.localSize ?? row.sizeBytes ?? 0,
          expectedMd5: row.md5,
          reason: "S3 holds the same content",
        });
        continue;
      }
      const reason = keepReason(row);
      if (reason === null) continue;
      plan.skipped.push({ filename: row.filename, reason });
      kept.push({ actor: actor.name, filename: row.filename, status: row.status, reason });
    }
    return plan;
  });
  const deletions = plans.reduce((count, plan) => count + plan.steps.length, 0);
  const limit = options.maxDelete ?? defaultMaxDelete;
  if (deletions > limit) throw new MaxDeleteExceededError(limit, deletions, "prune-local", plans);
  if (options.dryRun) return { ...operationReport(true, plans, []), kept, failedActors };
  if (options.switchToS3Only) {
    // Recorded before the first deletion, so that no later run (a crash included) downloads what goes.
    writeStorageMode(ctx.config.dataDir, "s3-only");
    ctx.config.storageMode = "s3-only";
    ctx.logger.info(`${configFilePath(ctx.config.dataDir)}: storage mode is now s3-only`);
  }

  const locks = options.locks ?? new ActorLocks(ctx.db);
  const gate = pLimit(4);
  const results: ActorApplyResult[] = [];
  await Promise.all(
    plans
      .filter((plan) => plan.steps.length > 0)
      .map((plan) =>
        gate(async () => {
          try {
            results.push(await locks.run(plan.actorId, () => applyActorPlan(ctx, s3, plan)));
          } catch (error) {
            failedActors.push({ name: plan.name, error: error instanceof Error ? error.message : String(error) });
          }
        }),
      ),
  );
  results.sort((a, b) => a.name.localeCompare(b.name));
  for (const result of results) {
    for (const step of result.steps.filter((s) => !s.ok)) {
      kept.push({ actor: result.name, filename: step.filename, status: "synced", reason: `not verified at deletion: ${step.error}` });
    }
  }
  return { ...operationReport(false, plans, results), kept, failedActors };
}

/** Pruning needs the data directory recorded as s3-only, or the caller's word to record it so. */
export function assertPrunable(ctx: AppContext, switchToS3Only: boolean): void {
  if (!switchToS3Only && readConfigFile(ctx.config.dataDir).storageMode !== "s3-only")
    throw new StorageModeError(configFilePath(ctx.config.dataDir));
}

/** Why a local file stays; null when there is no local file to keep. */
function keepReason(row: ImageRow): string | null {
  switch (row.status) {
    case "local_only":
      return "only copy is local: upload it first (sync --direction push)";
    case "out_of_sync":
      return "S3 holds different content: repair it first (sync --out-of-sync local|s3|newer)";
    case "synced":
      return "no content MD5 recorded: audit again";
    case null:
      return "not checked: audit first";
    case "s3_only":
    case "missing":
      return null;
  }
}
