import type { Dirent } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import type { AppContext } from "../../context.ts";
import { actorRevisions, addDiscoveredActors, allActorIds, loadActorForScan, writeActorScan } from "../../db/scan-writes.ts";
import { actorsByIds } from "../../db/actor-queries.ts";
import type { ActorRow, StatusCounts, SyncStatus } from "../../db/schema.ts";
import { settleLimit } from "../concurrency.ts";
import { exportManifests } from "../manifests/export.ts";
import { assertSafeName, isSafeName, isTrainingImageFilename, parseActorName, InvalidFilenameError } from "../files/layout.ts";
import { assertRealFolder, symlinkReason } from "../files/safe-files.ts";
import { actorListing, describeS3Error, listEveryActor, type ActorListing, type S3Access } from "../s3/s3-client.ts";
import { SuspectListingError } from "./suspect-listing.ts";
import { planActorScan, type LocalFile, type LocalListing } from "./scan-plan.ts";

export type ScanOutcome = "scanned" | "failed" | "suspect";

export interface ActorScanResult {
  actorId: number;
  name: string;
  outcome: ScanOutcome;
  /** Why the actor failed or was refused as suspect; nothing was written for it then. */
  error?: string;
  /** The suspect-listing guard's reasons, when it refused the actor. */
  suspectReasons?: string[];
  objectsListed: number;
  /** Null in s3-only mode (no local side). */
  localFiles: number | null;
  /** New rows: files or objects under the folder/prefix that no manifest lists (orphans). */
  added: string[];
  /** Tracked images whose S3 object (or local file) is gone since last known. */
  removedFromS3: string[];
  removedLocally: string[];
  /** Tracked images whose ETag, size, last-modified or local size/mtime changed. */
  changed: string[];
  /** Both sides present but stat cannot tell whether they match: status left unknown for `audit`. */
  needsAudit: string[];
  statusChanges: { filename: string; from: SyncStatus | null; to: SyncStatus | null }[];
  /** Keys and files under the prefix/folder that are not valid training images. */
  skipped: { name: string; reason: string }[];
  counts: StatusCounts;
  totalSizeBytes: number;
  /** Manifests written after the change (write-through); problems are listed, not thrown. */
  exportedFiles: string[];
  exportProblems: string[];
}

export interface ScanOptions {
  /** Apply a listing that is empty or removes more than `maxRemoveShare` of the actor's images. */
  allowSuspect?: boolean;
  /** Write the actor's manifests after a change (default true). */
  exportAfter?: boolean;
  now?: () => Date;
}

export interface ScanActorsOptions extends ScanOptions {
  actorIds?: readonly number[];
  all?: boolean;
  /** Actors in flight at once (each lists S3 and walks a folder). */
  concurrency?: number;
  onProgress?: (done: number, total: number, result: ActorScanResult) => void;
}

export interface ScanReport {
  actors: ActorScanResult[];
  /** Actors found by their folder or S3 prefix alone (no manifest, no row) and added (`all` only). */
  discovered: string[];
  scanned: number;
  failed: number;
  suspect: number;
  added: number;
  removed: number;
  changed: number;
  needsAudit: number;
  counts: StatusCounts;
  totalSizeBytes: number;
}

/**
 * Scans many actors (SPEC.md §6), a few at a time; `all` first adds the actors that have a
 * folder or an S3 prefix and no row. One actor failing (S3 refused after retries,
 * unreadable folder, suspect listing) is reported and never stops the others.
 */
export async function scanActors(ctx: AppContext, s3: S3Access, options: ScanActorsOptions): Promise<ScanReport> {
  const every = options.all ? listEveryActorOnce(ctx, s3) : undefined;
  const discovered = every ? await discoverActors(ctx, every) : [];
  const ids = options.all ? allActorIds(ctx.db) : [...(options.actorIds ?? [])];
  let done = 0;
  const settled = await settleLimit(ids, options.concurrency ?? 16, async (actorId) => {
    const result = await scanActor(ctx, s3, actorId, options, every);
    options.onProgress?.(++done, ids.length, result);
    return result;
  });
  const results = settled.map((outcome, i) =>
    outcome.status === "fulfilled" ? outcome.value : failedResult(ids[i]!, `#${ids[i]}`, errorText(outcome.reason)),
  );
  return { ...summarize(results), discovered };
}

/**
 * One listing of every actor's prefix for a scan of all actors, with each actor's revision
 * read before it started. An actor whose rows moved since (another process's upload, say)
 * is listed again on its own: planned against rows newer than the listing, an object uploaded
 * meanwhile would read as removed from S3.
 */
export interface EveryActorListing {
  listings: Promise<Map<string, ActorListing> | Error>;
  revisions: Map<number, number>;
}

export function listEveryActorOnce(ctx: AppContext, s3: S3Access): EveryActorListing {
  const revisions = actorRevisions(ctx.db);
  const listings = listEveryActor(s3.client, s3.s3Config).catch((error: unknown) => new Error(errorText(error)));
  return { listings, revisions };
}

/**
 * Adds the actors that only a folder under `actors/` or a prefix in S3 tells of (no
 * manifest names them: SPEC.md §6 orphans), so that their files and objects are scanned
 * and synced like any other's. Names that are not safe names are never actors.
 */
export async function discoverActors(ctx: AppContext, every: EveryActorListing): Promise<string[]> {
  const { layout } = ctx;
  const folders = assertRealFolder(layout.root, layout.actorsDir) ? await readdir(layout.actorsDir, { withFileTypes: true }) : [];
  const listings = await every.listings;
  // A failed listing (each actor then lists its own prefix) tells of no name: the folders still do.
  const prefixes = listings instanceof Error ? [] : listings.keys();
  const names = new Set([...folders.filter((entry) => entry.isDirectory()).map((entry) => entry.name), ...prefixes]);
  const candidates = [...names].sort().flatMap((name) => {
    if (!isSafeName(name)) return [];
    const parts = parseActorName(name);
    return [{ name, ...parts, formatAPath: parts.characterId ? layout.formatAPath(parts.characterId) : null }];
  });
  const added = addDiscoveredActors(ctx.db, candidates);
  // Added from this very listing, so it is as new as their rows; any other actor new since it began is listed on its own.
  for (const actor of added) every.revisions.set(actor.id, actor.revision);
  return added.map((actor) => actor.name);
}

/**
 * Scans one actor, stat only: lists its S3 prefix and (mirrored mode) its training folder,
 * compares with the rows, and writes what changed in one short transaction. Never throws
 * for S3, disk or a suspect listing: the result says `failed` or `suspect`, and then
 * nothing was written.
 */
export async function scanActor(
  ctx: AppContext,
  s3: S3Access,
  actorId: number,
  options: ScanOptions = {},
  every?: EveryActorListing,
): Promise<ActorScanResult> {
  let snapshot = loadActorForScan(ctx.db, actorId);
  if (!snapshot) return failedResult(actorId, `#${actorId}`, `no actor with id ${actorId}`);
  const name = snapshot.actor.name;
  const s3Only = ctx.config.storageMode === "s3-only";
  let shared = every && every.revisions.get(actorId) === snapshot.actor.revision ? every.listings : undefined;

  // Another writer may change the actor while we list; list again and plan from fresh rows then.
  for (let attempt = 0; attempt < 5; attempt++) {
    let listing: ActorListing;
    let local: LocalListing | null;
    try {
      [listing, local] = await Promise.all([
        actorListing(s3, name, shared),
        s3Only ? Promise.resolve(null) : walkTrainingFolder(ctx.layout.root, ctx.layout.trainingDir(name)),
      ]);
    } catch (error) {
      // A failed request or walk says nothing about what exists: nothing is marked deleted.
      return failedResult(actorId, name, errorText(error));
    }
    const checkedAt = (options.now?.() ?? new Date()).toISOString();
    const plan = planActorScan({
      snapshot,
      objects: listing.objects,
      local,
      s3Config: s3.s3Config,
      relativeImagePath: (filename) => ctx.layout.relativeImagePath(name, filename),
      maxRemoveShare: ctx.config.maxRemoveShare,
    });
    const result = baseResult(actorId, name);
    Object.assign(result, plan.report, {
      objectsListed: listing.objects.length,
      localFiles: local ? local.files.length : null,
      skipped: [...listing.skipped.map((s) => ({ name: s.key, reason: s.reason })), ...(local?.skipped ?? [])],
    });
    if (plan.suspectReasons.length > 0 && !options.allowSuspect) {
      result.outcome = "suspect";
      result.error = new SuspectListingError(name, plan.suspectReasons).message;
      result.suspectReasons = plan.suspectReasons;
      fillCounts(result, snapshot.actor);
      return result;
    }
    const written = writeActorScan(ctx.db, {
      actorId,
      expectedRevision: snapshot.actor.revision,
      checkedAt,
      inserts: plan.inserts,
      updates: plan.updates,
      visible: plan.visible,
      forgetsAudit: plan.forgetsAudit,
      generationMetadata: { scanned_at: checkedAt, total_scanned: listing.objects.length },
    });
    if (written === "stale") {
      snapshot = loadActorForScan(ctx.db, actorId);
      if (!snapshot) return failedResult(actorId, name, "actor deleted during the scan");
      shared = undefined;
      continue;
    }
    // Only a visible change recounts the statistics; otherwise they are the snapshot's.
    const counted = plan.visible ? actorsByIds(ctx.db, [actorId])[0] : snapshot.actor;
    if (counted) fillCounts(result, counted);
    if (plan.visible && options.exportAfter !== false) await exportAfterScan(ctx, actorId, result);
    return result;
  }
  return failedResult(actorId, name, "the actor kept changing during the scan; try again");
}

async function exportAfterScan(ctx: AppContext, actorId: number, result: ActorScanResult): Promise<void> {
  try {
    const report = await exportManifests(ctx, { actorIds: [actorId] });
    result.exportedFiles = report.filesWritten;
    result.exportProblems = report.problems.map((p) => `${p.file}: ${p.reason}`);
  } catch (error) {
    result.exportProblems = [errorText(error)];
  }
  for (const problem of result.exportProblems) ctx.logger.warn(`scan of ${result.name}: manifest not written: ${problem}`);
}

/**
 * The image files of a training folder under the data directory `root`, stat only. Non-image
 * files (manifests, prompts) are not listed; links are skipped, named (SPEC.md §3), and a
 * link on the way to the folder is an error that names it.
 */
export async function walkTrainingFolder(root: string, folder: string): Promise<LocalListing> {
  let entries: Dirent[];
  try {
    if (!assertRealFolder(root, folder)) return { files: [], skipped: [], folderMissing: true };
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { files: [], skipped: [], folderMissing: true };
    throw error;
  }
  const skipped: LocalListing["skipped"] = [];
  const candidates: string[] = [];
  for (const entry of entries) {
    if (!isTrainingImageFilename(entry.name)) continue;
    if (entry.isSymbolicLink()) skipped.push({ name: entry.name, reason: symlinkReason });
    if (!entry.isFile()) continue;
    try {
      candidates.push(assertSafeName(entry.name));
    } catch (error) {
      skipped.push({ name: entry.name, reason: error instanceof InvalidFilenameError ? error.reason : String(error) });
    }
  }
  const stats = await Promise.all(
    candidates.map(async (filename) => {
      try {
        // lstat: a file swapped for a link since readdir is not followed (and not listed).
        const s = await lstat(`${folder}/${filename}`);
        return s.isFile() ? { filename, size: s.size, mtimeMs: s.mtimeMs } : null;
      } catch (error) {
        // Deleted between readdir and stat: simply absent.
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw error;
      }
    }),
  );
  return { files: stats.filter((file): file is LocalFile => file !== null), skipped, folderMissing: false };
}

function baseResult(actorId: number, name: string): ActorScanResult {
  return {
    actorId,
    name,
    outcome: "scanned",
    objectsListed: 0,
    localFiles: null,
    added: [],
    removedFromS3: [],
    removedLocally: [],
    changed: [],
    needsAudit: [],
    statusChanges: [],
    skipped: [],
    counts: emptyCounts(),
    totalSizeBytes: 0,
    exportedFiles: [],
    exportProblems: [],
  };
}

function failedResult(actorId: number, name: string, error: string): ActorScanResult {
  return { ...baseResult(actorId, name), outcome: "failed", error };
}

function fillCounts(result: ActorScanResult, actor: ActorRow): void {
  result.counts = {
    synced: actor.syncedCount,
    local_only: actor.localOnlyCount,
    s3_only: actor.s3OnlyCount,
    out_of_sync: actor.outOfSyncCount,
    missing: actor.missingCount,
    unchecked: actor.uncheckedCount,
  };
  result.totalSizeBytes = actor.totalSizeBytes;
}

export function emptyCounts(): StatusCounts {
  return { synced: 0, local_only: 0, s3_only: 0, out_of_sync: 0, missing: 0, unchecked: 0 };
}

function summarize(results: ActorScanResult[]): Omit<ScanReport, "discovered"> {
  const counts = emptyCounts();
  let totalSizeBytes = 0;
  for (const result of results) {
    for (const key of Object.keys(counts) as (keyof StatusCounts)[]) counts[key] += result.counts[key];
    totalSizeBytes += result.totalSizeBytes;
  }
  const sum = (pick: (r: ActorScanResult) => number) => results.reduce((n, r) => n + pick(r), 0);
  return {
    actors: results,
    scanned: results.filter((r) => r.outcome === "scanned").length,
    failed: results.filter((r) => r.outcome === "failed").length,
    suspect: results.filter((r) => r.outcome === "suspect").length,
    added: sum((r) => r.added.length),
    removed: sum((r) => new Set([...r.removedFromS3, ...r.removedLocally]).size),
    changed: sum((r) => r.changed.length),
    needsAudit: sum((r) => r.needsAudit.length),
    counts,
    totalSizeBytes,
  };
}

function errorText(error: unknown): string {
  return describeS3Error(error);
}
