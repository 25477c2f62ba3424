import { emptyPlanTotals, type PlanTotals } from "../../db/job-writes.ts";
import type { ImageRow } from "../../db/schema.ts";

/** Which way a sync moves content (SPEC.md §7). */
export type SyncDirection = "push" | "pull" | "both";
/** Who wins when both sides hold different content. */
export type OutOfSyncResolution = "local" | "s3" | "newer" | "skip";

/** Content a step replaces or deletes, which goes to the trash first (SPEC.md §7: losers are kept). */
export interface TrashedLoser {
  side: "local" | "s3";
  bytes: number;
}

type CopyKind = "upload" | "download";
/** An upload or a download. */
export type CopyStep = Extract<PlanStep, { kind: CopyKind }>;

/** One change a plan makes to one image. */
export type PlanStep =
  | {
      kind: CopyKind;
      filename: string;
      bytes: number;
      overwrite: boolean;
      expectedMd5: string | null;
      toTrash: TrashedLoser[];
      reason: string;
    }
  | { kind: "delete"; filename: string; bytes: number; fromS3: boolean; fromLocal: boolean; toTrash: TrashedLoser[]; reason: string }
  /** Removes a local copy S3 verifiably holds (s3-only conversion, SPEC.md §5); the row stays, S3_ONLY. */
  | { kind: "prune"; filename: string; bytes: number; expectedMd5: string; reason: string }
  /** Rates an image (rows, statistics, prompt_metadata.json and manifests; no S3 or disk). */
  | { kind: "rate"; filename: string; bytes: 0; good: boolean | null; reason: string }
  | AddStep;

/**
 * Adds an image from a file staged for it (a temporary file the operation wrote): uploaded
 * verified, then put in place locally (mirrored mode) or removed (s3-only), then its row.
 */
export interface AddStep {
  kind: "add";
  filename: string;
  bytes: number;
  md5: string;
  stagedPath: string;
  /** Put the file in the actor's folder (mirrored mode); s3-only uploads only. */
  placeLocally: boolean;
  overwrite: boolean;
  prompt: string | null;
  generationId: number | null;
  index: number | null;
  source: string | null;
  reason: string;
}

export interface ActorPlan {
  actorId: number;
  name: string;
  steps: PlanStep[];
  /** Images the plan leaves alone, and why (out of sync with no winner, missing, never checked). */
  skipped: { filename: string; reason: string }[];
}

export interface SyncPlanOptions {
  direction: SyncDirection;
  outOfSync: OutOfSyncResolution;
  /** s3-only mode never downloads: S3 is the only copy. */
  s3Only: boolean;
}

type PlannedImage = Pick<
  ImageRow,
  "filename" | "status" | "md5" | "s3Md5" | "localSize" | "localMtimeMs" | "s3Size" | "s3LastModified" | "sizeBytes"
>;

/** What a copy reads (size and MD5 of its source side) and which side's content it replaces. */
const copySides = {
  upload: { readSize: "localSize", readMd5: "md5", replaced: "s3", replacedSize: "s3Size" },
  download: { readSize: "s3Size", readMd5: "s3Md5", replaced: "local", replacedSize: "localSize" },
} as const satisfies Record<
  CopyKind,
  { readSize: keyof PlannedImage; readMd5: keyof PlannedImage; replaced: TrashedLoser["side"]; replacedSize: keyof PlannedImage }
>;

/** The steps that bring one actor's images in sync, from the statuses its last audit found. */
export function planActorSync(actor: { id: number; name: string }, rows: readonly PlannedImage[], options: SyncPlanOptions): ActorPlan {
  const plan: ActorPlan = { actorId: actor.id, name: actor.name, steps: [], skipped: [] };
  const push = options.direction !== "pull";
  const pull = options.direction !== "push" && !options.s3Only;
  const copy = (kind: CopyKind, row: PlannedImage, overwrite: boolean, reason: string) => {
    const sides = copySides[kind];
    plan.steps.push({
      kind,
      filename: row.filename,
      bytes: row[sides.readSize] ?? row.sizeBytes ?? 0,
      overwrite,
      expectedMd5: row[sides.readMd5],
      // The side an overwrite replaces goes to the trash first.
      toTrash: overwrite ? [{ side: sides.replaced, bytes: row[sides.replacedSize] ?? 0 }] : [],
      reason,
    });
  };

  for (const row of rows) {
    switch (row.status) {
      case "synced":
        break;
      case "local_only":
        if (push && !options.s3Only) copy("upload", row, false, "only on local disk");
        break;
      case "s3_only":
        if (pull) copy("download", row, false, "only in S3");
        break;
      case "out_of_sync": {
        const winner = options.outOfSync === "newer" ? newerSide(row) : options.outOfSync;
        if (winner === "local" && push) copy("upload", row, true, `out of sync: local wins (${options.outOfSync})`);
        else if (winner === "s3" && pull) copy("download", row, true, `out of sync: S3 wins (${options.outOfSync})`);
        else plan.skipped.push({ filename: row.filename, reason: skipReason(options, winner) });
        break;
      }
      case "missing":
        plan.skipped.push({ filename: row.filename, reason: "missing on both sides: nothing to copy" });
        break;
      case null:
        plan.skipped.push({ filename: row.filename, reason: "not checked yet: audit first" });
        break;
    }
  }
  return plan;
}

function newerSide(row: PlannedImage): "local" | "s3" | "skip" {
  const s3Time = row.s3LastModified ? Date.parse(row.s3LastModified) : Number.NaN;
  if (row.localMtimeMs === null || Number.isNaN(s3Time)) return "skip";
  if (row.localMtimeMs === s3Time) return "skip";
  return row.localMtimeMs > s3Time ? "local" : "s3";
}

function skipReason(options: SyncPlanOptions, winner: OutOfSyncResolution): string {
  if (options.outOfSync === "skip")
    return "out of sync: choose a winner with --out-of-sync local|s3|newer (GraphQL outOfSync: LOCAL, S3 or NEWER)";
  if (winner === "skip") return "out of sync: neither side is newer";
  return `out of sync: ${winner} wins, but this sync only goes ${options.direction}`;
}

export function planTotals(plans: readonly ActorPlan[]): PlanTotals {
  const totals = emptyPlanTotals();
  for (const plan of plans) addPlanTotals(totals, plan);
  return totals;
}

/** Adds one actor's plan to running totals (a sync plans actor by actor as audits land). */
export function addPlanTotals(totals: PlanTotals, plan: ActorPlan): void {
  for (const step of plan.steps) {
    if (step.kind === "upload" || step.kind === "add") {
      totals.uploads += 1;
      totals.uploadBytes += step.bytes;
    } else if (step.kind === "download") {
      totals.downloads += 1;
      totals.downloadBytes += step.bytes;
    } else if (step.kind === "delete" || step.kind === "prune") {
      totals.deletes += 1;
      totals.deleteBytes += step.bytes;
    }
    if ((step.kind === "upload" || step.kind === "download" || step.kind === "add") && step.overwrite) {
      totals.overwrites += 1;
      totals.overwriteBytes += step.bytes;
    }
    for (const loser of "toTrash" in step ? step.toTrash : []) {
      totals.trashed += 1;
      totals.trashBytes += loser.bytes;
    }
  }
}
