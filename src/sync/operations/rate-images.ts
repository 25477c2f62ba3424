import type { AppContext } from "../../context.ts";
import type { S3Access } from "../s3/s3-client.ts";
import { assertImageFilename, imagesOf, operationReport, resolveActor, type ActorRef, type OperationReport } from "./operation-common.ts";
import type { ActorPlan } from "./plan.ts";
import { ActorLocks, applyActorPlan } from "./write-through.ts";

export interface RateImagesOptions {
  actor: ActorRef;
  filenames: string[];
  /** true = good, false = bad, null = not rated. */
  good: boolean | null;
  /** Only plan: change nothing. */
  dryRun?: boolean;
  locks?: ActorLocks;
  /** Only used when another tool edited a manifest meanwhile: the actor is audited again on top of it. */
  s3?: S3Access | null;
}

/**
 * Rates images good, bad or unrated (SPEC.md §7): the rows and statistics, then
 * prompt_metadata.json (created, keyed by filename, when the actor has none) and the
 * manifests that carry ratings, through the write-through path. Touches no S3 object.
 */
export async function rateImages(ctx: AppContext, options: RateImagesOptions): Promise<OperationReport> {
  options.filenames.forEach(assertImageFilename);
  const actor = resolveActor(ctx, options.actor);
  const rows = imagesOf(ctx, actor, options.filenames);
  const label = options.good === null ? "unrated" : options.good ? "good" : "bad";
  const plan: ActorPlan = {
    actorId: actor.id,
    name: actor.name,
    steps: rows.map((row) => ({ kind: "rate", filename: row.filename, bytes: 0, good: options.good, reason: `rate ${label}` })),
    skipped: [],
  };
  if (options.dryRun) return operationReport(true, [plan], []);
  const locks = options.locks ?? new ActorLocks(ctx.db);
  const result = await locks.run(actor.id, () => applyActorPlan(ctx, options.s3 ?? null, plan));
  return operationReport(false, [plan], [result]);
}
