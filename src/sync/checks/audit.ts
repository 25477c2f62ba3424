/**
 * Folder src/sync/checks/: finding out what is where without changing any image. scan lists
 * S3 and the local folders; audit (this file) compares content and records each image's
 * status; suspect-listing keeps both from trusting a listing that came back wrong.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import pLimit from "p-limit";
import type { AppContext } from "../../context.ts";
import { auditCandidates, s3OnlyLocalDigest, type AuditBasis, type AuditCandidate } from "../../db/audit-basis.ts";
import {
  actorNeedsExport,
  confirmUnchangedAudits,
  loadActorForAudit,
  writeActorAudits,
  type ActorAuditWrite,
  type AuditedImage,
  type ImageAuditOutcome,
} from "../../db/audit-writes.ts";
import type { ActorRow, StatusCounts, SyncStatus } from "../../db/schema.ts";
import type { Db } from "../../db/store.ts";
import {
  candidatePartSizes,
  knownS3ContentMd5,
  multipartEtagMatches,
  multipartPartCount,
  type ContentMd5Source,
  type S3ContentMd5,
} from "../s3/content-md5.ts";
import { exportManifests, type ExportProblem } from "../manifests/export.ts";
import { HashCache, type LocalFileStat, type LocalHash } from "../hashing/hash-cache.ts";
import { actorPrefix, assertSafeName, isTrainingImageFilename, s3KeyOf } from "../files/layout.ts";
import { Md5Pool } from "../hashing/md5-pool.ts";
import { assertRealFolder } from "../files/safe-files.ts";
import { describeS3Error, headObject, listActorObjects, listObjects, type ListedObject, type S3Access } from "../s3/s3-client.ts";
import { SuspectListingError, suspectListingReasons, type SideListing } from "./suspect-listing.ts";
import { ActorLocks } from "../operations/write-through.ts";

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
  /** Actors in flight at once (their files queue in the hashing pool while listings run); default 256. */
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
  const hashCache = new HashCache(ctx.db, pool);
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
    const listings = listS3 && "all" in options ? listAllActors(s3).catch((error: unknown) => new Error(describeS3Error(error))) : undefined;
    const gate = pLimit(Math.max(1, options.actorConcurrency ?? 256));
    await Promise.all(
      selected.map((actor) =>
        gate(async () => {
          const listActor = once(() => actorObjects(s3, actor.name, listings));
          const oneOptions = {
            hashCache,
            writer,
            listActor,
            listS3: listS3 || actor.s3ListedAt === null,
            allowSuspect: options.allowSuspect ?? false,
            lastBasis: actor.basis,
          };
          const audit = async () => (await confirmUnchanged(ctx, actor, oneOptions)) ?? (await auditOne(ctx, s3, actor, oneOptions));
          const result = locks ? await locks.run(actor.id, audit).catch((busy: unknown) => failedResult(actor, busy)) : await audit();
          results.push(result);
          actorsDone += 1;
          bytesHashed += result.bytesHashed;
          progress(result);
        }),
      ),
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
  for (const result of results) for (const status of Object.keys(report.counts) as SyncStatus[]) report.counts[status] += result.counts[status];
  report.hashMBps = seconds > 0 ? report.bytesHashed / 1e6 / seconds : 0;
  return report;
}

interface AuditOneOptions {
  hashCache: HashCache;
  writer: AuditWriter;
  /** The actor's objects as listed now (one request, or its part of the listing of every actor), asked for once. */
  listActor: () => Promise<ListedObject[]>;
  /** Compare with a listing made now, rather than the last one recorded. */
  listS3: boolean;
  allowSuspect: boolean;
  /** What the actor's last audit rested on, as read when this audit began. */
  lastBasis: AuditBasis | null;
}

interface LocalSide {
  path: string;
  stat: LocalFileStat;
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
    const folder = ctx.layout.trainingDir(actor.name);
    assertRealFolder(ctx.layout.root, folder);
    const local = await options.hashCache.pool.folderDigest(folder);
    // A folder holding links is audited in full, which reports them.
    return local.links.length > 0 ? null : local.digest;
  };
  let digests: [string | null, string | null];
  try {
    digests = await Promise.all([
      s3Only ? s3OnlyLocalDigest : localDigest(),
      options.listS3 ? options.listActor().then(listingDigest) : null,
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

async function auditOne(ctx: AppContext, s3: S3Access, actor: Pick<ActorRow, "id" | "name">, options: AuditOneOptions): Promise<ActorAuditResult> {
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
 * One pass over an actor. The local side goes first and needs nothing from S3, so its
 * hashing runs in the workers while the listing is on its way; only a multipart ETag
 * nothing else explains makes a file be read a second time (with its part sizes).
 */
async function auditOnce(
  ctx: AppContext,
  s3: S3Access,
  actor: Pick<ActorRow, "id" | "name">,
  options: AuditOneOptions,
  result: ActorAuditResult,
): Promise<"written" | "stale"> {
  const { db, layout, config } = ctx;
  const s3Only = config.storageMode === "s3-only";
  const folder = layout.trainingDir(actor.name);
  const snapshot = loadActorForAudit(db, actor.id, folder);
  if (!snapshot) throw new Error(`actor ${actor.name} is gone`);
  const rows = snapshot.images;
  // The S3 side as the last listing recorded it serves only an actor that was listed before.
  const listS3 = options.listS3 || snapshot.s3ListedAt === null;
  const listing: Promise<ListedObject[]> = listS3 ? options.listActor() : Promise.resolve(recordedObjects(s3, actor.name, rows));
  listing.catch(() => {}); // awaited below; no unhandled rejection while the local side runs

  // Local side, stat only (mirrored mode), then MD5s through the hash cache.
  const localOf = new Map<number, LocalSide | null>();
  let localNames = new Set<string>();
  let folderExists = false;
  let localDigest = s3OnlyLocalDigest;
  // One safe segment under the actor's folder (what layout.imagePath checks), without re-deriving the folder per file.
  const pathOf = (filename: string) => join(folder, assertSafeName(filename));
  if (!s3Only) {
    assertRealFolder(layout.root, folder);
    // In a worker: thousands of stat(2) calls are the main cost of an audit of an unchanged tree.
    const local = await options.hashCache.pool.statFolder(folder, rows.map((row) => assertSafeName(row.filename)));
    folderExists = local.exists;
    localDigest = local.digest;
    result.links = local.links;
    localNames = new Set(local.names.filter((name) => isTrainingImageFilename(name) && !local.links.includes(name)));
    rows.forEach((row, i) => {
      const stat = local.stats[i];
      localOf.set(row.id, stat ? { path: pathOf(row.filename), stat } : null);
    });
  }
  const presentLocally = rows.filter((row) => localOf.get(row.id));
  const hashOf = (row: AuditedImage, partSizes?: number[]) => {
    const local = localOf.get(row.id)!;
    return options.hashCache.md5Of(local.path, local.stat, partSizes ? null : row, partSizes);
  };
  // Cache hits are answered at once; only what changed waits for a worker.
  const hashing = Promise.all(
    presentLocally.map((row) => {
      const local = localOf.get(row.id)!;
      const partSizes = guessPartSizes(row, local.stat.size);
      return (!partSizes && options.hashCache.cachedMd5(local.stat, row)) || hashOf(row, partSizes);
    }),
  );
  hashing.catch(() => {});

  let listed: ListedObject[];
  let hashed: LocalHash[];
  try {
    listed = await listing;
  } finally {
    // The MD5s are right whatever S3 said: they reach the cache with the next write (see AuditWriter).
    hashed = await hashing;
  }
  const hashes = new Map(presentLocally.map((row, i) => [row.id, hashed[i]!]));
  for (const hash of hashed) {
    if (hash.fromCache) result.filesFromCache += 1;
    else {
      result.filesHashed += 1;
      result.bytesHashed += hash.bytesRead;
    }
  }
  const objects = new Map(listed.map((object) => [object.filename, object]));
  const s3Of = new Map<number, ListedObject | null>();
  const prefix = actorPrefix(s3.s3Config, actor.name);
  let headed = false;
  for (const row of rows) {
    // A key recorded outside the actor's prefix (legacy manifests) is not in the listing: HEAD it.
    if (listS3 && row.s3Key && !row.s3Key.startsWith(prefix)) {
      s3Of.set(row.id, await headAsListed(s3, row.s3Key, row.filename));
      headed = true;
    } else s3Of.set(row.id, objects.get(row.filename) ?? null);
  }

  const tracked = new Set(rows.map((row) => row.filename));
  result.untrackedLocal = [...localNames].filter((name) => !tracked.has(name)).sort();
  result.untrackedS3 = listS3 ? listed.map((object) => object.filename).filter((name) => !tracked.has(name)).sort() : [];

  if (!options.allowSuspect) guardAgainstSuspectListing(actor.name, rows, s3Of, localOf, s3Only, folderExists, config.maxRemoveShare);

  // The S3 content MD5 where the ETag does not state it: metadata by HEAD, else the multipart rule.
  const s3Md5 = new Map<number, S3ContentMd5>();
  const unresolved: AuditedImage[] = [];
  for (const row of rows) {
    const object = s3Of.get(row.id);
    if (!object) continue;
    const known = knownS3ContentMd5(object.etag, { s3Md5: row.s3Md5, s3Md5Etag: row.s3Md5Etag });
    const hash = hashes.get(row.id);
    s3Md5.set(row.id, known);
    // Only content compared with a local file of the same size needs more than the ETag.
    if (!known.md5 && hash && hash.size === object.size) unresolved.push(row);
  }
  const heads = pLimit(8);
  await Promise.all(
    unresolved.map((row) =>
      heads(async () => {
        const object = s3Of.get(row.id)!;
        const hash = hashes.get(row.id)!;
        const head = await headObject(s3.client, s3.s3Config.bucket, object.key);
        if (head && head.etag === object.etag) {
          const fromHead = knownS3ContentMd5(object.etag, { metadataMd5: head.metadataMd5 });
          if (fromHead.md5) return void s3Md5.set(row.id, fromHead);
        }
        const parts = multipartPartCount(object.etag);
        const sizes = parts === null ? [] : candidatePartSizes(object.size, parts);
        let localEtags = hash.multipartEtags;
        if (sizes.some((size) => localEtags[String(size)] === undefined)) {
          const again = await hashOf(row, sizes);
          result.filesHashed += 1;
          result.bytesHashed += again.bytesRead;
          localEtags = again.multipartEtags;
        }
        if (object.etag && multipartEtagMatches(object.etag, localEtags)) return void s3Md5.set(row.id, { md5: hash.md5, source: "multipart-etag" });
        // No plausible part size explains the ETag: read the object itself rather than guess.
        const downloaded = await md5OfObject(s3.client, s3.s3Config.bucket, object.key);
        result.bytesDownloaded += downloaded.size;
        s3Md5.set(row.id, { md5: downloaded.md5, source: "download" });
      }),
    ),
  );
  if (!s3Only) options.hashCache.forget(rows.filter((row) => !localOf.get(row.id)).map((row) => pathOf(row.filename)));

  const outcomes: ImageAuditOutcome[] = [];
  for (const row of rows) {
    const object = s3Of.get(row.id) ?? null;
    const hash = hashes.get(row.id);
    const content = s3Md5.get(row.id) ?? { md5: null, source: null };
    if (content.source) result.s3Md5Sources[content.source] = (result.s3Md5Sources[content.source] ?? 0) + 1;
    const status = statusOf({ s3Only, local: hash ?? null, object, s3ContentMd5: content.md5 });
    result.counts[status] += 1;
    if (row.status !== status) result.statusChanges.push({ filename: row.filename, from: row.status, to: status });
    const size = hash?.size ?? object?.size ?? null;
    result.bytesTotal += size ?? 0;
    outcomes.push({
      id: row.id,
      status,
      md5: hash?.md5 ?? content.md5 ?? row.md5,
      sizeBytes: size ?? row.sizeBytes,
      localSize: hash ? hash.size : null,
      localMtimeMs: hash ? hash.mtimeMs : null,
      s3Etag: object?.etag ?? null,
      s3Size: object?.size ?? null,
      s3LastModified: object?.lastModified ?? null,
      s3Md5: object ? content.md5 : null,
      s3Md5Etag: object && content.md5 ? object.etag : null,
    });
  }

  // What a later audit may confirm instead of redoing. The S3 digest stands for the listing the rows
  // now reflect: this one, or (no listing) the last audit's, if nothing changed the rows since.
  const last = options.lastBasis?.revision === snapshot.revision ? options.lastBasis : null;
  const basis = {
    localDigest,
    s3Digest: listS3 ? (headed ? null : listingDigest(listed)) : (last?.s3Digest ?? null),
    untrackedLocal: result.untrackedLocal,
    untrackedS3: listS3 ? result.untrackedS3 : (last?.untrackedS3 ?? []),
  };
  const written = await options.writer.write({ actorId: actor.id, snapshot, outcomes, listed: listS3, basis });
  if (written.outcome === "written") {
    result.checkedAt = written.checkedAt;
    result.s3ListedAt = listS3 ? written.checkedAt : snapshot.s3ListedAt;
    result.ok = true;
  }
  return written.outcome;
}

/**
 * Part sizes to compute in the first read, when the object's recorded ETag is multipart
 * and nothing recorded tells its content MD5 (saves a second read of the file).
 */
function guessPartSizes(row: AuditedImage, localSize: number): number[] | undefined {
  if (!row.s3Etag || knownS3ContentMd5(row.s3Etag, { s3Md5: row.s3Md5, s3Md5Etag: row.s3Md5Etag }).md5) return undefined;
  const parts = multipartPartCount(row.s3Etag);
  return parts === null || row.s3Size !== localSize ? undefined : candidatePartSizes(localSize, parts);
}

/** The S3 side as the last scan or audit recorded it (no request). */
function recordedObjects(s3: S3Access, name: string, rows: readonly AuditedImage[]): ListedObject[] {
  return rows
    .filter((row) => row.s3Size !== null && row.s3Etag !== null)
    .map((row) => ({
      key: row.s3Key ?? s3KeyOf(s3.s3Config, name, row.filename),
      filename: row.filename,
      size: row.s3Size!,
      etag: row.s3Etag,
      lastModified: row.s3LastModified,
    }));
}

/**
 * Writes the actors whose audits finish in the same turn of the event loop in one
 * transaction (each actor in a savepoint of its own with its own revision check), with
 * the hash cache's new rows: a commit per actor costs more than the audit of an
 * unchanged actor does.
 */
class AuditWriter {
  private queue: { write: ActorAuditWrite; resolve(value: { outcome: "written" | "stale"; checkedAt: string }): void; reject(error: unknown): void }[] = [];
  private confirmations: { confirmation: UnchangedConfirmation; resolve(value: { checkedAt: string } | null): void; reject(error: unknown): void }[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly hashCache: HashCache,
  ) {}

  write(write: ActorAuditWrite): Promise<{ outcome: "written" | "stale"; checkedAt: string }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /** Marks an unchanged actor checked now; null when its rows changed meanwhile (audit it in full). */
  confirm(confirmation: UnchangedConfirmation): Promise<{ checkedAt: string } | null> {
    return new Promise((resolve, reject) => {
      this.confirmations.push({ confirmation, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0);
    const confirmations = this.confirmations.splice(0);
    const checkedAt = new Date().toISOString();
    let outcomes: ("written" | "stale")[];
    let confirmed: boolean[];
    try {
      [outcomes, confirmed] = this.db.$client.transaction(() => {
        this.hashCache.flush();
        return [
          writeActorAudits(
            this.db,
            batch.map((item) => item.write),
            checkedAt,
          ),
          confirmUnchangedAudits(
            this.db,
            confirmations.map((item) => item.confirmation),
            checkedAt,
          ),
        ] as const;
      })();
    } catch (error) {
      for (const item of [...batch, ...confirmations]) item.reject(error);
      return;
    }
    for (const [i, item] of batch.entries()) item.resolve({ outcome: outcomes[i]!, checkedAt });
    for (const [i, item] of confirmations.entries()) item.resolve(confirmed[i] ? { checkedAt } : null);
  }
}

type UnchangedConfirmation = Parameters<typeof confirmUnchangedAudits>[1][number];

/** The status table of SPEC.md §2; in s3-only mode an image is in S3 or MISSING. */
export function statusOf(sides: {
  s3Only: boolean;
  local: { md5: string; size: number } | null;
  object: { size: number } | null;
  s3ContentMd5: string | null;
}): SyncStatus {
  const { local, object } = sides;
  if (sides.s3Only) return object ? "s3_only" : "missing";
  if (local && object) {
    if (local.size !== object.size) return "out_of_sync";
    return sides.s3ContentMd5 !== null && sides.s3ContentMd5 === local.md5 ? "synced" : "out_of_sync";
  }
  if (local) return "local_only";
  if (object) return "s3_only";
  return "missing";
}

/** The suspect-listing guard (SPEC.md §6): throws, so nothing of the actor is written. */
function guardAgainstSuspectListing(
  actor: string,
  rows: readonly AuditedImage[],
  s3Of: Map<number, ListedObject | null>,
  localOf: Map<number, LocalSide | null>,
  s3Only: boolean,
  folderExists: boolean,
  maxShare: number,
): void {
  const onS3: readonly (SyncStatus | null)[] = ["synced", "out_of_sync", "s3_only"];
  const onDisk: readonly (SyncStatus | null)[] = ["synced", "out_of_sync", "local_only"];
  const side = (name: SideListing["side"], wasThere: readonly (SyncStatus | null)[], present: Map<number, unknown>, emptyReason: string): SideListing => {
    const before = rows.filter((row) => wasThere.includes(row.status));
    return {
      side: name,
      known: before.length,
      removed: before.filter((row) => !present.get(row.id)).length,
      empty: [...present.values()].every((value) => !value),
      emptyReason,
    };
  };
  const sides = [side("s3", onS3, s3Of, "the listing is empty")];
  if (!s3Only) sides.push(side("local", onDisk, localOf, folderExists ? "no image is in the folder" : "the folder does not exist"));
  const reasons = suspectListingReasons(rows.length, sides, maxShare);
  if (reasons.length > 0) throw new SuspectListingError(actor, reasons);
}

async function actorObjects(
  s3: S3Access,
  name: string,
  listings: Promise<Map<string, ListedObject[]> | Error> | undefined,
): Promise<ListedObject[]> {
  if (listings) {
    const all = await listings;
    if (all instanceof Error) throw all;
    return all.get(name) ?? [];
  }
  return (await listActorObjects(s3.client, s3.s3Config, name)).objects;
}

/** HEAD of a key as a listing entry, or null when there is no such object. */
async function headAsListed(s3: S3Access, key: string, filename: string): Promise<ListedObject | null> {
  const head = await headObject(s3.client, s3.s3Config.bucket, key);
  return head ? { key, filename, size: head.size, etag: head.etag, lastModified: head.lastModified } : null;
}

/** Digest of an actor's listing (key, ETag, size, last-modified of each object, in key order). */
function listingDigest(objects: readonly ListedObject[]): string {
  const hash = createHash("md5");
  for (const object of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    hash.update(`${object.key}\0${object.etag}\0${object.size}\0${object.lastModified}\n`);
  }
  return hash.digest("hex");
}

/** A function that calls `make` the first time and returns that same promise after. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/** One listing of the whole prefix, grouped by actor name (`{prefix}{name}/{filename}`). */
async function listAllActors(s3: S3Access): Promise<Map<string, ListedObject[]>> {
  const prefix = s3.s3Config.prefix;
  const byActor = new Map<string, ListedObject[]>();
  for await (const object of listObjects(s3.client, s3.s3Config.bucket, prefix)) {
    const rest = object.key.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash <= 0) continue;
    const name = rest.slice(0, slash);
    const filename = rest.slice(slash + 1);
    if (!isSafeSegment(filename) || !isTrainingImageFilename(filename)) continue;
    let list = byActor.get(name);
    if (!list) byActor.set(name, (list = []));
    list.push({ ...object, filename });
  }
  return byActor;
}

function isSafeSegment(value: string): boolean {
  try {
    assertSafeName(value);
    return true;
  } catch {
    return false;
  }
}

/** MD5 of an object's bytes, streamed (the last resort for an ETag nothing else explains). */
async function md5OfObject(client: S3Client, bucket: string, key: string): Promise<{ md5: string; size: number }> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash("md5");
  let size = 0;
  for await (const chunk of answer.Body as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { md5: hash.digest("hex"), size };
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}
