import type { AppContext } from "../../context.ts";
import { actorByCharacterId, actorByName, actorsByIds } from "../../db/actor-queries.ts";
import { actorImages } from "../../db/image-queries.ts";
import type { PlanTotals } from "../../db/job-writes.ts";
import type { ActorRow, ImageRow } from "../../db/schema.ts";
import type { Db } from "../../db/store.ts";
import { assertSafeName, isTrainingImageFilename, normalizeCharacterId, InvalidFilenameError } from "../files/layout.ts";
import { planTotals, type ActorPlan } from "./plan.ts";
import type { ActorApplyResult, PendingFile } from "./write-through.ts";

/**
 * How a request names an actor: by name, by character id (`42` or `0042`), by row id, or,
 * as the CLI's `--actor NAME|ID` does, by name or character id.
 */
export type ActorLookup = { name: string } | { characterId: string } | { id: number } | { nameOrId: string };

/** No actor answers to the name, character id or id a request gave. */
export class UnknownActorError extends Error {
  override name = "UnknownActorError";
  /** What was asked for, as given. */
  readonly actor: string;
  constructor(readonly lookup: ActorLookup) {
    const actor =
      "name" in lookup ? lookup.name : "characterId" in lookup ? lookup.characterId : "id" in lookup ? String(lookup.id) : lookup.nameOrId;
    super(
      "name" in lookup
        ? `no actor with name ${JSON.stringify(actor)}`
        : "characterId" in lookup
          ? `no actor with character id ${JSON.stringify(actor)}`
          : `unknown actor ${JSON.stringify(actor)} (run import first?)`,
    );
    this.actor = actor;
  }
}

/** The server has no S3 connection (or no job runner): reads work, S3 operations cannot. */
export class NotConfiguredError extends Error {
  override name = "NotConfiguredError";
  constructor(readonly missing: string) {
    super(`this server has no ${missing} configured: reads work, but this operation needs it`);
  }
}

/** S3 (or the local disk) refused or failed after retries; nothing was changed for the actor. */
export class S3RefusedError extends Error {
  override name = "S3RefusedError";
  constructor(
    readonly actorName: string,
    readonly reason: string,
  ) {
    super(`${actorName}: ${reason}`);
  }
}

/** Images named in a request that the actor does not have. */
export class UnknownImageError extends Error {
  override name = "UnknownImageError";
  constructor(
    readonly actor: string,
    readonly filenames: string[],
  ) {
    super(`${actor} has no image${filenames.length > 1 ? "s" : ""} ${filenames.map((f) => JSON.stringify(f)).join(", ")}`);
  }
}

/** A filename that is safe but not a training image (`.jpg`, `.jpeg`, `.png`). */
export class NotAnImageError extends Error {
  override name = "NotAnImageError";
  constructor(readonly filename: string) {
    super(`${JSON.stringify(filename)} is not a training image filename (.jpg, .jpeg or .png)`);
  }
}

/** The plan deletes more than the caller allowed: nothing was changed. It carries the plan, which a dry run still shows. */
export class MaxDeleteExceededError extends Error {
  override name = "MaxDeleteExceededError";
  constructor(
    readonly limit: number,
    readonly count: number,
    readonly operation: string,
    readonly plans: ActorPlan[],
  ) {
    super(
      `${operation} would delete ${count} images, over the max-delete limit of ${limit}; nothing was changed (raise --max-delete to go on)`,
    );
  }
}

/** Adding would replace images that exist (row, local file or S3 object) and the caller did not ask to overwrite. */
export class ImageExistsError extends Error {
  override name = "ImageExistsError";
  constructor(
    readonly actor: string,
    readonly filenames: string[],
  ) {
    super(`${actor} already has ${filenames.join(", ")}; nothing was added (overwrite to replace them)`);
  }
}

/** A change done in SQLite, S3 and on disk whose manifests could not all be written. */
export interface AppliedChange {
  actor: string;
  filename: string;
  kind: string;
}

/**
 * A change half-way (SPEC.md §7: it says exactly what is pending): the done steps are in
 * SQLite, S3 and on disk, the named manifests do not say so yet. They are written by the next
 * change to the actor, `export`, or the next start's recovery (the intents stay pending until then).
 */
export class PartiallyAppliedError extends Error {
  override name = "PartiallyAppliedError";
  constructor(
    readonly actorIds: number[],
    readonly done: AppliedChange[],
    readonly pending: (PendingFile & { actor: string })[],
  ) {
    super(
      `${done.length} change${done.length === 1 ? "" : "s"} done in SQLite, S3 and on disk, but not yet written to ${pending.map((p) => p.file).join(", ")} ` +
        `(${[...new Set(pending.map((p) => p.reason))].join("; ")}); the next change to the actor, \`export\` or the next start writes ${pending.length === 1 ? "it" : "them"}`,
    );
  }
}

/** The PartiallyAppliedError of these results, or null when every manifest was written. */
export function partiallyApplied(results: readonly ActorApplyResult[]): PartiallyAppliedError | null {
  const half = results.filter((result) => result.pendingFiles.length > 0);
  if (half.length === 0) return null;
  return new PartiallyAppliedError(
    half.map((result) => result.actorId),
    half.flatMap((result) =>
      result.steps.filter((step) => step.ok).map((step) => ({ actor: result.name, filename: step.filename, kind: step.kind })),
    ),
    half.flatMap((result) => result.pendingFiles.map((pending) => ({ actor: result.name, ...pending }))),
  );
}

/** What every write-through operation hands back: the plan, and unless a dry run, what became of it. */
export interface OperationReport {
  dryRun: boolean;
  plans: ActorPlan[];
  totals: PlanTotals;
  results: ActorApplyResult[];
  failedSteps: number;
}

export function operationReport(dryRun: boolean, plans: ActorPlan[], results: ActorApplyResult[]): OperationReport {
  return {
    dryRun,
    plans,
    totals: planTotals(plans),
    results,
    failedSteps: results.reduce((count, result) => count + result.steps.filter((step) => !step.ok).length, 0),
  };
}

/** An actor by row id, or by name or character id (`42` or `"0042"`). */
export type ActorRef = number | string;

/** The one rule for finding the actor a request names (GraphQL and CLI alike); an UnknownActorError when there is none. */
export function findActor(db: Db, lookup: ActorLookup): ActorRow {
  const row =
    "id" in lookup
      ? actorsByIds(db, [lookup.id])[0]
      : "name" in lookup
        ? // A name from a request is checked first: a hostile one is refused as such, not merely unknown.
          actorByName(db, assertSafeName(lookup.name))
        : "characterId" in lookup
          ? actorByCharacterId(db, normalizeCharacterId(lookup.characterId))
          : (actorByName(db, lookup.nameOrId) ??
            (/^\d+$/.test(lookup.nameOrId) ? actorByCharacterId(db, normalizeCharacterId(lookup.nameOrId)) : null));
  if (!row) throw new UnknownActorError(lookup);
  return row;
}

export function resolveActor(ctx: AppContext, ref: ActorRef): ActorRow {
  return findActor(ctx.db, typeof ref === "number" ? { id: ref } : { nameOrId: ref });
}

/** Refuses, before any I/O, a filename that is a path, hostile, or not an image. */
export function assertImageFilename(filename: string): string {
  assertSafeName(filename);
  if (!isTrainingImageFilename(filename)) throw new NotAnImageError(filename);
  return filename;
}

/** The rows of the named images (all of them when `filenames` is undefined); an unknown name is an error. */
export function imagesOf(ctx: AppContext, actor: ActorRow, filenames: readonly string[] | undefined): ImageRow[] {
  const rows = actorImages(ctx.db, actor.id, filenames);
  if (filenames) {
    const found = new Set(rows.map((row) => row.filename));
    const unknown = [...new Set(filenames)].filter((filename) => !found.has(filename));
    if (unknown.length > 0) throw new UnknownImageError(actor.name, unknown);
  }
  return rows;
}

export { InvalidFilenameError };
