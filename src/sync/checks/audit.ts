/**
 * Folder src/sync/checks/: finding out what is where without changing any image. scan lists
 * S3 and the local folders (scan-plan says what a listing means for the rows); audit (this
 * file) compares content and records each image's status: audit-actor is one pass over an
 * actor, audit-s3-side tells the S3 content MD5s, audit-listing lists and digests the S3 side,
 * audit-writer batches the writes; suspect-listing keeps both from trusting a listing that
 * came back wrong.
 */
import pLimit from "p-limit";
import type { AppContext } from "../../context.ts";
import { auditCandidates, s3OnlyLocalDigest, type AuditCandidate } from "../../db/audit-basis.ts";
import { actorNeedsExport } from "../../db/audit-writes.ts";
import type { ActorRow, StatusCounts, SyncStatus } from "../../db/schema.ts";
import type { ContentMd5Source } from "../s3/content-md5.ts";
import { exportManifests, type ExportProblem } from "../manifests/export.ts";
import { HashCache } from "../hashing/hash-cache.ts";
import { Md5Pool } from "../hashing/md5-pool.ts";
import { actorListing, describeS3Error, listEveryActor, type ActorListing, type ListedObject, type S3Access } from "../s3/s3-client.ts";
import { SuspectListingError } from "./suspect-listing.ts";
import { ActorLocks } from "../operations/write-through.ts";
import { auditOnce, type AuditOneOptions } from "./audit-actor.ts";
import { listingDigest } from "./audit-listing.ts";
import { AuditWriter } from "./audit-writer.ts";

export interface AuditOptions {
  /** Hashing pool to use (its `bytesRead` counts what was read); default the context's, else one made and closed here. */
  pool?: Md5Pool;
  /** Audit even when a listing looks suspect (empty, or most of the actor gone): the explicit override of SPEC.md §6. */
  allowSuspect?: boolean;
  /**
   * List the actors' S3 prefixes first (default false). An audit verifies content (SPEC.md
   * §6): by default it compares with the S3 side (ETag, size) as the last listing recorded
   * it — a scan, a sync or an audit with this option — and lists only actors never listed.
   */
  listS3?: boolean;
  /** Actors in flight at once (their files queue in the hashing pool while listings run); default 256 confirmed from their last audit, 16 audited in full. */
  actorConcurrency?: number;
  /**
   * Each actor is audited holding its lock (SPEC.md §7: one process at a time per actor), so an
   * audit never interleaves with another process's sync of it. Default: locks of this call;
   * null when the caller already holds the actor's lock (write-through settling an actor).
   */
  locks?: ActorLocks | null;
  onProgress?: (progress: AuditProgress) => void;
}

export interface AuditProgress {
  actorsDone: number;
  actorsTotal: number;
  /** Bytes of local files read so far by this audit (cache hits read nothing). */
  bytesHashed: number;
  actor?: string;
  /** The actor just audited: its rows are written when this arrives, so a caller may act on them. */
  result?: ActorAuditResult;
}

/** An audit tells every image it reads: none is left unchecked. */
type AuditCounts = Omit<StatusCounts, "unchecked">;

export interface ActorAuditResult {
  actorId: number;
  name: string;
  ok: boolean;
  /** Why the actor was not audited (S3 refused, suspect listing, …); nothing was written for it. */
  error?: string;
  /** The suspect-listing guard's reasons, when it was the refusal (an override can apply it), not a failure. */
  suspectReasons?: string[];
  counts: AuditCounts;
  /** Images whose status differs from what SQLite said before. */
  statusChanges: { filename: string; from: SyncStatus | null; to: SyncStatus }[];
  filesHashed: number;
  filesFromCache: number;
  bytesHashed: number;
  /** Bytes of S3 objects downloaded to tell a multipart object's MD5 (only when nothing else could). */
  bytesDownloaded: number;
  /** Bytes of the images present on either side (local size, else S3 size). */
  bytesTotal: number;
  /** Where each S3 content MD5 came from, counted. */
  s3Md5Sources: Partial<Record<ContentMd5Source, number>>;
  /** Training images in the actor's folder or prefix that no manifest lists (scan adds them). */
  untrackedLocal: string[];
  untrackedS3: string[];
  /** Image names in the actor's folder that are symbolic links: never followed, never transferred (SPEC.md §3). */
  links: string[];
  manifestsWritten: string[];
  exportProblems: ExportProblem[];
  checkedAt: string | null;
  /** When the S3 side compared with was listed (now, when this audit listed it). */
  s3ListedAt: string | null;
  /**
   * Nothing changed since the last audit (same rows, same image files, same listing when
   * listed): its statuses were confirmed without reading a row or a file.
   */
  unchanged: boolean;
}

export interface AuditReport {
  actors: ActorAuditResult[];
  counts: AuditCounts;
  failed: number;
  filesHashed: number;
  filesFromCache: number;
  bytesHashed: number;
  bytesDownloaded: number;
  bytesTotal: number;
  seconds: number;
  /** Rate of hashing over the whole run (bytesHashed / seconds), MB/s with MB = 10^6 bytes. */
  hashMBps: number;
}

export function emptyCounts(): AuditCounts {
  return { synced: 0, local_only: 0, s3_only: 0, out_of_sync: 0, missing: 0 };
}

/** Audits one actor (SPEC.md §2, §6): see `auditActors`. */
export async function auditActor(ctx: AppContext, s3: S3Access, actorId: number, options: AuditOptions = {}): Promise<ActorAuditResult> {
  const report = await auditActors(ctx, s3, { ...options, actorIds: [actorId] });
  const result = report.actors[0];
  if (!result) throw new Error(`no actor with id ${actorId}`);
  return result;
}

/**
 * Verifies content for the chosen actors: takes the S3 side from the last listing (or
 * lists it: one listing of the whole prefix for `all`), stats the local files and takes
 * their MD5 through the hash cache (hashing what changed in worker threads while a
 * listing is on its way), tells each image's status by the table of SPEC.md §2, writes it
 * with the time it was checked in short transactions, and writes the actor's manifests
 * through. An actor unchanged since its last audit is confirmed from a digest of its
 * folder (see audit-basis.ts). One actor's failure is reported and never stops the others.
 */
export async function auditActors(
  ctx: AppContext,
  s3: S3Access,
  options: AuditOptions & ({ actorIds: readonly number[] } | { all: true }),
): Promise<AuditReport> {
  const started = performance.now();
  const selected = auditCandidates(ctx.db, "all" in options ? "all" : options.actorIds);
  const shared = options.pool ?? ctx.hashing;
  const pool = shared ?? new Md5Pool();
  const hashCache = new HashCache(ctx.db, pool, ctx.layout.root);
  const writer = new AuditWriter(ctx.db, hashCache);
  const locks = options.locks === undefined ? new ActorLocks(ctx.db) : options.locks;
  const results: ActorAuditResult[] = [];
  let actorsDone = 0;
  // Counted from this audit's own results: a shared pool also counts other audits' reads.
  let bytesHashed = 0;
  const progress = (result?: ActorAuditResult) =>
    options.onProgress?.({ actorsDone, actorsTotal: selected.length, bytesHashed, actor: result?.name, result });

  try {
    progress();
    const listS3 = options.listS3 ?? false;
    // Every actor: one listing of the whole prefix (a page per 1,000 keys), not a request per actor.
    const listings =
      listS3 && "all" in options
        ? listEveryActor(s3.client, s3.s3Config).catch((error: unknown) => new Error(describeS3Error(error)))
        : undefined;
    // An actor its last audit may confirm costs a lock and a stat of its folder: many at once share
    // their lock transactions. One audited in full reads its rows and hashes its files: a few at a
    // time start the hashing sooner (first file hashed at 5 ms, not 35, of a cold audit of 100 actors).
    // A given `actorConcurrency` bounds both together.
    const confirming = pLimit(Math.max(1, options.actorConcurrency ?? 256));
    const auditing = options.actorConcurrency === undefined ? pLimit(16) : confirming;
    const holding = (actor: AuditCandidate, audit: () => Promise<ActorAuditResult | null>) =>
      locks ? locks.run(actor.id, audit).catch((busy: unknown) => failedResult(actor, busy)) : audit();
    await Promise.all(
      selected.map(async (actor) => {
        const listActor = listingFor(s3, actor, listings);
        const oneOptions = {
          hashCache,
          writer,
          listActor,
          listS3: listS3 || actor.s3ListedAt === null,
          allowSuspect: options.allowSuspect ?? false,
          lastBasis: actor.basis,
        };
        // Confirmed, or (not confirmed: the lock is let go meanwhile) audited in full.
        const confirmed =
          actor.basis?.revision === actor.revision
            ? await confirming(() => holding(actor, () => confirmUnchanged(ctx, actor, oneOptions)))
            : null;
        const result = confirmed ?? (await auditing(() => holding(actor, () => auditOne(ctx, s3, actor, oneOptions))))!;
        results.push(result);
        actorsDone += 1;
        bytesHashed += result.bytesHashed;
        progress(result);
      }),
    );
  } finally {
    hashCache.flush(); // what actors that failed had hashed
    if (!shared) await pool.close();
  }

  results.sort((a, b) => a.name.localeCompare(b.name));
  const seconds = (performance.now() - started) / 1000;
  const report: AuditReport = {
    actors: results,
    counts: emptyCounts(),
    failed: results.filter((r) => !r.ok).length,
    filesHashed: sum(results, (r) => r.filesHashed),
    filesFromCache: sum(results, (r) => r.filesFromCache),
    bytesHashed: sum(results, (r) => r.bytesHashed),
    bytesDownloaded: sum(results, (r) => r.bytesDownloaded),
    bytesTotal: sum(results, (r) => r.bytesTotal),
    seconds,
    hashMBps: 0,
  };
  for (const result of results)
    for (const status of Object.keys(report.counts) as SyncStatus[]) report.counts[status] += result.counts[status];
  report.hashMBps = seconds > 0 ? report.bytesHashed / 1e6 / seconds : 0;
  return report;
}

/** Times an actor is audited again when another writer changed it meanwhile. */
const staleRetries = 2;

/**
 * The audit of an actor whose rows are as its last audit left them, and whose image files
 * and (when listed) S3 listing digest as they did then: that audit's statuses stand, so
 * they are confirmed as checked now without reading a row or a file. Null: audit it in full.
 */
async function confirmUnchanged(ctx: AppContext, actor: AuditCandidate, options: AuditOneOptions): Promise<ActorAuditResult | null> {
  const basis = actor.basis;
  if (!basis || basis.revision !== actor.revision || (options.listS3 && basis.s3Digest === null)) return null;
  const s3Only = ctx.config.storageMode === "s3-only";
  const localDigest = async (): Promise<string | null> => {
    // The folders down to it are checked in the thread, before it lists them (no link is followed).
    const local = await options.hashCache.pool.folderDigest(ctx.layout.root, ctx.layout.trainingDir(actor.name));
    // A folder holding links is audited in full, which reports them.
    return local.links.length > 0 ? null : local.digest;
  };
  let digests: [string | null, string | null];
  try {
    digests = await Promise.all([
      s3Only ? s3OnlyLocalDigest : localDigest(),
      options.listS3 ? options.listActor(actor.revision).then(listingDigest) : null,
    ]);
  } catch {
    return null; // the full audit meets the same failure and reports it
  }
  if (digests[0] !== basis.localDigest || (options.listS3 && digests[1] !== basis.s3Digest)) return null;
  const confirmed = await options.writer.confirm({ actorId: actor.id, revision: actor.revision, listed: options.listS3 });
  if (!confirmed) return null;
  const result = emptyResult(actor);
  Object.assign(result, {
    ok: true,
    unchanged: true,
    counts: { ...actor.counts },
    filesFromCache: s3Only ? 0 : actor.counts.synced + actor.counts.local_only + actor.counts.out_of_sync,
    bytesTotal: actor.bytesPresent,
    untrackedLocal: basis.untrackedLocal,
    untrackedS3: options.listS3 ? basis.untrackedS3 : [],
    checkedAt: confirmed.checkedAt,
    s3ListedAt: options.listS3 ? confirmed.checkedAt : actor.s3ListedAt,
  });
  if (actor.revision > actor.exportedRevision) await writeManifestsThrough(ctx, actor.id, result);
  return result;
}

async function auditOne(
  ctx: AppContext,
  s3: S3Access,
  actor: Pick<ActorRow, "id" | "name">,
  options: AuditOneOptions,
): Promise<ActorAuditResult> {
  let result = emptyResult(actor);
  try {
    for (let attempt = 0; ; attempt++) {
      result = emptyResult(actor);
      const written = await auditOnce(ctx, s3, actor, options, result);
      if (written !== "stale") break;
      if (attempt >= staleRetries) throw new Error("another writer kept changing this actor; audit it again later");
    }
    if (actorNeedsExport(ctx.db, actor.id)) await writeManifestsThrough(ctx, actor.id, result);
  } catch (error) {
    result.ok = false;
    if (error instanceof SuspectListingError) result.suspectReasons = [...error.reasons];
    result.error = error instanceof SuspectListingError ? error.message : describeS3Error(error);
  }
  return result;
}

/** An actor not audited: another process held it past the wait. */
function failedResult(actor: Pick<ActorRow, "id" | "name">, error: unknown): ActorAuditResult {
  return { ...emptyResult(actor), ok: false, error: error instanceof Error ? error.message : String(error) };
}

/** Write-through (SPEC.md §7): the manifests carry what the audit learned. */
async function writeManifestsThrough(ctx: AppContext, actorId: number, result: ActorAuditResult): Promise<void> {
  const exported = await exportManifests(ctx, { actorIds: [actorId] });
  result.manifestsWritten = exported.filesWritten;
  result.exportProblems = exported.problems;
}

function emptyResult(actor: Pick<ActorRow, "id" | "name">): ActorAuditResult {
  return {
    actorId: actor.id,
    name: actor.name,
    ok: false,
    counts: emptyCounts(),
    statusChanges: [],
    filesHashed: 0,
    filesFromCache: 0,
    bytesHashed: 0,
    bytesDownloaded: 0,
    bytesTotal: 0,
    s3Md5Sources: {},
    untrackedLocal: [],
    untrackedS3: [],
    links: [],
    manifestsWritten: [],
    exportProblems: [],
    checkedAt: null,
    s3ListedAt: null,
    unchanged: false,
  };
}

/**
 * The actor's objects listed now, for its rows at `revision`: its part of the listing of every
 * actor (asked for once) while its rows are as they were before that listing began, else a listing
 * of its own. Rows newer than the listing would read an object uploaded meanwhile as gone.
 */
export function listingFor(
  s3: S3Access,
  actor: AuditCandidate,
  every: Promise<Map<string, ActorListing> | Error> | undefined,
): (revision: number) => Promise<ListedObject[]> {
  let shared: Promise<ListedObject[]> | undefined;
  return (revision) => {
    if (revision !== actor.revision) return actorListing(s3, actor.name, undefined).then((listing) => listing.objects);
    shared ??= actorListing(s3, actor.name, every).then((listing) => listing.objects);
    return shared;
  };
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}
