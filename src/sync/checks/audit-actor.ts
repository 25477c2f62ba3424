import { join } from "node:path";
import type { AppContext } from "../../context.ts";
import { s3OnlyLocalDigest, type AuditBasis } from "../../db/audit-basis.ts";
import { loadActorForAudit, type AuditedImage, type ImageAuditOutcome } from "../../db/audit-writes.ts";
import type { ActorRow, SyncStatus } from "../../db/schema.ts";
import type { S3ContentMd5 } from "../s3/content-md5.ts";
import { cachedStat, type HashCache, type LocalFileStat, type LocalHash } from "../hashing/hash-cache.ts";
import { actorPrefix, assertSafeName, isTrainingImageFilename } from "../files/layout.ts";
import type { ListedObject, S3Access } from "../s3/s3-client.ts";
import { SuspectListingError, suspectListingReasons, type SideListing } from "./suspect-listing.ts";
import type { ActorAuditResult } from "./audit.ts";
import { listingDigest } from "./audit-listing.ts";
import { guessPartSizes, headAsListed, mayNeedPartSizes, recordedObjects, resolveS3ContentMd5s } from "./audit-s3-side.ts";
import type { AuditWriter } from "./audit-writer.ts";

export interface AuditOneOptions {
  hashCache: HashCache;
  writer: AuditWriter;
  /** The actor's objects as listed now, for its rows at this revision (one request, or its part of the listing of every actor). */
  listActor: (revision: number) => Promise<ListedObject[]>;
  /** Compare with a listing made now, rather than the last one recorded. */
  listS3: boolean;
  allowSuspect: boolean;
  /** What the actor's last audit rested on, as read when this audit began. */
  lastBasis: AuditBasis | null;
}

export interface LocalSide {
  path: string;
  stat: LocalFileStat;
  /** Its MD5 when the stat pass hashed it (its cached one was missing or stale). */
  hash?: LocalHash;
}

/** The actor's folder as one stat pass saw it (mirrored mode; empty in s3-only mode). */
interface LocalFolder {
  /** Each row's file, or null where there is none. */
  localOf: Map<number, LocalSide | null>;
  /** Training images in the folder that are not links. */
  names: Set<string>;
  exists: boolean;
  digest: string;
}

/** Hashes one row's local file: its content MD5, or with `partSizes` its multipart ETags too. */
export type HashRow = (row: AuditedImage, partSizes?: number[]) => Promise<LocalHash>;

/**
 * One pass over an actor. The local side goes first and needs nothing from S3, so its
 * hashing runs in the workers while the listing is on its way; only a multipart ETag
 * nothing else explains makes a file be read a second time (with its part sizes).
 */
export async function auditOnce(
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
  const listing: Promise<ListedObject[]> = listS3
    ? options.listActor(snapshot.revision)
    : Promise.resolve(recordedObjects(s3, actor.name, rows));
  listing.catch(() => {}); // awaited below; no unhandled rejection while the local side runs

  // One safe segment under the actor's folder (what layout.imagePath checks), without re-deriving the folder per file.
  const pathOf = (filename: string) => join(folder, assertSafeName(filename));
  const local = s3Only ? noLocalFolder() : await statLocalFolder(ctx, folder, rows, options.hashCache, result);
  const { localOf } = local;
  const presentLocally = rows.filter((row) => localOf.get(row.id));
  const hashOf: HashRow = (row, partSizes) => {
    const side = localOf.get(row.id)!;
    return options.hashCache.md5Of(side.path, side.stat, partSizes ? null : row, partSizes);
  };
  // Hashed with the stat pass, or a cache hit; only a file that may need its part ETags waits for a worker.
  const hashing = Promise.all(
    presentLocally.map((row) => {
      const side = localOf.get(row.id)!;
      if (side.hash) return side.hash;
      const partSizes = guessPartSizes(row, side.stat.size);
      return (!partSizes && options.hashCache.cachedMd5(side.stat, row)) || hashOf(row, partSizes);
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
  result.untrackedLocal = [...local.names].filter((name) => !tracked.has(name)).sort();
  result.untrackedS3 = listS3
    ? listed
        .map((object) => object.filename)
        .filter((name) => !tracked.has(name))
        .sort()
    : [];

  if (!options.allowSuspect) guardAgainstSuspectListing(actor.name, rows, s3Of, localOf, s3Only, local.exists, config.maxRemoveShare);

  const s3Md5 = await resolveS3ContentMd5s(s3, rows, s3Of, hashes, hashOf, result);
  if (!s3Only) options.hashCache.forget(rows.filter((row) => !localOf.get(row.id)).map((row) => pathOf(row.filename)));
  const outcomes = rows.map((row) =>
    outcomeOf(row, s3Of.get(row.id) ?? null, hashes.get(row.id) ?? null, s3Md5.get(row.id), s3Only, result),
  );

  // What a later audit may confirm instead of redoing. The S3 digest stands for the listing the rows
  // now reflect: this one, or (no listing) the last audit's, if nothing changed the rows since.
  const last = options.lastBasis?.revision === snapshot.revision ? options.lastBasis : null;
  const basis = {
    localDigest: local.digest,
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

function noLocalFolder(): LocalFolder {
  return { localOf: new Map(), names: new Set(), exists: false, digest: s3OnlyLocalDigest };
}

/**
 * The actor's folder (mirrored mode): the stat of each row's file, and in the same worker job the
 * MD5 of each whose cached one is missing or stale, unless its part ETags may be needed (hashed
 * after, with its part sizes). Its links are named in `result`.
 */
async function statLocalFolder(
  ctx: AppContext,
  folder: string,
  rows: readonly AuditedImage[],
  hashCache: HashCache,
  result: ActorAuditResult,
): Promise<LocalFolder> {
  // In a worker, with the check that no folder on the way is a link: thousands of stat(2) calls
  // are the main cost of an audit of an unchanged tree.
  const local = await hashCache.pool.statFolder(
    ctx.layout.root,
    folder,
    rows.map((row) => assertSafeName(row.filename)),
    rows.map((row) => (mayNeedPartSizes(row) ? undefined : cachedStat(row))),
  );
  result.links = local.links;
  const localOf = new Map<number, LocalSide | null>();
  rows.forEach((row, i) => {
    const stat = local.stats[i];
    const hashed = local.hashes[i];
    const path = join(folder, row.filename);
    const hash = hashed instanceof Error ? undefined : hashed;
    if (hash?.remember) hashCache.remember(path, hash);
    localOf.set(row.id, stat ? { path, stat, hash: hash ? Object.assign(hash, { fromCache: false }) : undefined } : null);
  });
  // The MD5s of the other files are kept (they reach the cache with the next write); the actor fails, naming the file.
  const failed = local.hashes.find((hash) => hash instanceof Error);
  if (failed) throw failed;
  return {
    localOf,
    names: new Set(local.names.filter((name) => isTrainingImageFilename(name) && !local.links.includes(name))),
    exists: local.exists,
    digest: local.digest,
  };
}

/** One image's status and the columns the audit records for it; counted in `result`. */
function outcomeOf(
  row: AuditedImage,
  object: ListedObject | null,
  hash: LocalHash | null,
  s3ContentMd5: S3ContentMd5 | undefined,
  s3Only: boolean,
  result: ActorAuditResult,
): ImageAuditOutcome {
  const content = s3ContentMd5 ?? { md5: null, source: null };
  if (content.source) result.s3Md5Sources[content.source] = (result.s3Md5Sources[content.source] ?? 0) + 1;
  const status = statusOf({ s3Only, local: hash, object, s3ContentMd5: content.md5 });
  result.counts[status] += 1;
  if (row.status !== status) result.statusChanges.push({ filename: row.filename, from: row.status, to: status });
  const size = hash?.size ?? object?.size ?? null;
  result.bytesTotal += size ?? 0;
  return {
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
  };
}

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
  const side = (
    name: SideListing["side"],
    wasThere: readonly (SyncStatus | null)[],
    present: Map<number, unknown>,
    emptyReason: string,
  ): SideListing => {
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
