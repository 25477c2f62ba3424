import type { S3Config } from "../../config.ts";
import type { ActorScanSnapshot, ScannedImageChanges, ScannedImageInsert } from "../../db/scan-writes.ts";
import type { ImageRow, SyncStatus } from "../../db/schema.ts";
import { imageIndexOf, s3KeyOf, s3UrlOf } from "../files/layout.ts";
import { isPlainMd5Etag, type ListedObject } from "../s3/s3-client.ts";
import { suspectListingReasons, type SideListing } from "./suspect-listing.ts";
import type { ActorScanResult } from "./scan.ts";

export interface LocalFile {
  filename: string;
  size: number;
  mtimeMs: number;
}

export interface LocalListing {
  files: LocalFile[];
  skipped: { name: string; reason: string }[];
  /** The training folder does not exist (never created, or the disk is not mounted). */
  folderMissing: boolean;
}

export interface ScanPlanInput {
  snapshot: ActorScanSnapshot;
  objects: readonly ListedObject[];
  /** Null in s3-only mode: there is no local side. */
  local: LocalListing | null;
  s3Config: S3Config;
  relativeImagePath: (filename: string) => string;
  maxRemoveShare: number;
}

export interface ScanPlan {
  inserts: ScannedImageInsert[];
  updates: { id: number; changes: ScannedImageChanges }[];
  visible: boolean;
  /** Rows or S3 facts the last audit did not rest on: its basis no longer confirms the actor. */
  forgetsAudit: boolean;
  suspectReasons: string[];
  report: Pick<ActorScanResult, "added" | "removedFromS3" | "removedLocally" | "changed" | "needsAudit" | "statusChanges">;
}

/** Columns the exported manifests show; a change in one of them makes the actor's manifests stale. */
const visibleColumns = ["status", "sizeBytes", "modifiedAt", "modifiedTimestamp", "localPath", "md5", "s3Key", "s3Url"] as const;

/**
 * What one actor's listings mean for its rows (pure: no I/O). Status rules, stat only:
 * - one side present → LOCAL_ONLY / S3_ONLY; neither → MISSING; s3-only mode → S3_ONLY or MISSING;
 * - both present: sizes differ → OUT_OF_SYNC; a trusted local MD5 and a known S3 MD5 (plain
 *   ETag, or x-amz-meta-md5 established for this very ETag) decide SYNCED / OUT_OF_SYNC;
 *   otherwise, if nothing changed since the last known SYNCED / OUT_OF_SYNC, that status is
 *   kept; else the status becomes unknown (null) and the image is listed for audit, because
 *   calling it SYNCED after a change would be a guess.
 * The local MD5 (`images.md5`) is trusted only while the local file's stat is the one it
 * was recorded with; a changed file clears it (audit hashes it again).
 */
export function planActorScan(input: ScanPlanInput): ScanPlan {
  const { snapshot, objects, local, s3Config } = input;
  const name = snapshot.actor.name;
  const s3Only = local === null;
  const objectByName = new Map(objects.map((object) => [object.filename, object]));
  const fileByName = new Map((local?.files ?? []).map((file) => [file.filename, file]));
  const tracked = new Set(snapshot.images.map((row) => row.filename));

  const plan: ScanPlan = {
    inserts: [],
    updates: [],
    visible: false,
    forgetsAudit: false,
    suspectReasons: [],
    report: { added: [], removedFromS3: [], removedLocally: [], changed: [], needsAudit: [], statusChanges: [] },
  };

  for (const row of snapshot.images) {
    const object = objectByName.get(row.filename) ?? null;
    const file = s3Only ? null : (fileByName.get(row.filename) ?? null);
    const next = nextStateOf(row, object, file, s3Only, file ? input.relativeImagePath(row.filename) : null);

    if (!object && expectedInS3(row, s3Only)) plan.report.removedFromS3.push(row.filename);
    if (!s3Only && !file && expectedLocally(row)) plan.report.removedLocally.push(row.filename);
    if (next.changed) plan.report.changed.push(row.filename);
    if (next.changes.status === null) plan.report.needsAudit.push(row.filename);

    const changes: ScannedImageChanges = {};
    for (const [column, value] of Object.entries(next.changes) as [keyof ScannedImageChanges, unknown][]) {
      if (row[column] !== value) (changes as Record<string, unknown>)[column] = value;
    }
    if (changes.status !== undefined) plan.report.statusChanges.push({ filename: row.filename, from: row.status, to: changes.status });
    if (Object.keys(changes).length === 0) continue;
    plan.updates.push({ id: row.id, changes });
    // The object's Last-Modified filled in where none was known (an upload records none) changes no audit's outcome.
    if (Object.keys(changes).some((column) => column !== "s3LastModified") || row.s3LastModified !== null) plan.forgetsAudit = true;
    if (visibleColumns.some((column) => column in changes)) plan.visible = true;
    // ETag and last-modified are shown by format B; filling one in where none was known is not a change.
    if ((changes.s3Etag !== undefined && row.s3Etag !== null) || (changes.s3LastModified !== undefined && row.s3LastModified !== null)) {
      plan.visible = true;
    }
  }

  const newNames = new Set<string>();
  for (const object of objects) if (!tracked.has(object.filename)) newNames.add(object.filename);
  if (!s3Only) for (const file of local!.files) if (!tracked.has(file.filename)) newNames.add(file.filename);
  for (const filename of [...newNames].sort()) {
    const object = objectByName.get(filename) ?? null;
    const file = s3Only ? null : (fileByName.get(filename) ?? null);
    const key = s3KeyOf(s3Config, name, filename);
    const status = newStatusOf(object, file, s3Only);
    plan.inserts.push({
      filename,
      index: imageIndexOf(name, filename),
      s3Key: key,
      s3Url: s3UrlOf(s3Config, key),
      localPath: file ? input.relativeImagePath(filename) : null,
      sizeBytes: file?.size ?? object!.size,
      modifiedAt: file ? new Date(file.mtimeMs).toISOString() : (object?.lastModified ?? null),
      modifiedTimestamp: file ? file.mtimeMs / 1000 : object?.lastModified ? Date.parse(object.lastModified) / 1000 : null,
      md5: s3Only && object && isPlainMd5Etag(object.etag) ? object.etag.toLowerCase() : null,
      status,
      source: object ? "s3_scan" : "local_scan",
      localSize: file?.size ?? null,
      localMtimeMs: file?.mtimeMs ?? null,
      s3Etag: object?.etag ?? null,
      s3Size: object?.size ?? null,
      s3LastModified: object?.lastModified ?? null,
      foundInS3: object !== null,
    });
    plan.report.added.push(filename);
    if (status === null) plan.report.needsAudit.push(filename);
  }
  if (plan.inserts.length > 0) plan.visible = plan.forgetsAudit = true;

  plan.suspectReasons = suspectReasons(input, plan);
  return plan;
}

/** The suspect-listing guard (SPEC.md §6) over what this scan would remove on each side. */
function suspectReasons(input: ScanPlanInput, plan: ScanPlan): string[] {
  const sides: SideListing[] = [
    {
      side: "s3",
      known: input.snapshot.images.filter((row) => expectedInS3(row, input.local === null)).length,
      removed: plan.report.removedFromS3.length,
      empty: input.objects.length === 0,
      emptyReason: `the listing of ${input.s3Config.bucket}/${input.s3Config.prefix}${input.snapshot.actor.name}/ is empty`,
    },
  ];
  if (input.local) {
    sides.push({
      side: "local",
      known: input.snapshot.images.filter(expectedLocally).length,
      removed: plan.report.removedLocally.length,
      empty: input.local.files.length === 0,
      emptyReason: input.local.folderMissing ? "the folder does not exist" : "no image is in the folder",
    });
  }
  return suspectListingReasons(input.snapshot.images.length, sides, input.maxRemoveShare);
}

/** Whether the last known state puts the image in S3 (so its absence now is a removal). */
function expectedInS3(row: ImageRow, s3Only: boolean): boolean {
  if (row.s3Etag !== null || row.s3Size !== null) return true;
  if (row.status === null) return s3Only || row.s3Key !== null || row.s3Url !== null;
  return row.status === "synced" || row.status === "out_of_sync" || row.status === "s3_only";
}

function expectedLocally(row: ImageRow): boolean {
  if (row.localSize !== null) return true;
  if (row.status === null) return row.localPath !== null;
  return row.status === "synced" || row.status === "out_of_sync" || row.status === "local_only";
}

interface NextState {
  changes: ScannedImageChanges;
  /** A side's stat differs from what was last recorded. */
  changed: boolean;
}

function nextStateOf(
  row: ImageRow,
  object: ListedObject | null,
  file: LocalFile | null,
  s3Only: boolean,
  localPath: string | null,
): NextState {
  const changes: ScannedImageChanges = {};
  // What the last scan (or the manifest) saw of each side, compared with now.
  const s3Changed =
    object !== null &&
    (row.s3Etag !== null || row.s3Size !== null
      ? normalizeEtag(row.s3Etag) !== normalizeEtag(object.etag) || (row.s3Size !== null && row.s3Size !== object.size)
      : s3Only && row.sizeBytes !== null && row.sizeBytes !== object.size);
  const s3TouchedOnly = object !== null && !s3Changed && row.s3LastModified !== null && row.s3LastModified !== object.lastModified;
  const localChanged =
    file !== null &&
    (row.localSize !== null
      ? row.localSize !== file.size || row.localMtimeMs !== file.mtimeMs
      : row.sizeBytes !== null && row.sizeBytes !== file.size);

  changes.s3Etag = object?.etag ?? null;
  changes.s3Size = object?.size ?? null;
  changes.s3LastModified = object?.lastModified ?? null;
  if (!s3Only) {
    changes.localSize = file?.size ?? null;
    changes.localMtimeMs = file?.mtimeMs ?? null;
  }

  // The manifest's own fields follow the primary copy when it changed: the local file, else the object.
  if (file && localChanged) {
    changes.sizeBytes = file.size;
    changes.modifiedTimestamp = file.mtimeMs / 1000;
    changes.modifiedAt = new Date(file.mtimeMs).toISOString();
    changes.md5 = null;
  } else if (!file && object && s3Changed) {
    changes.sizeBytes = object.size;
    if (object.lastModified) {
      changes.modifiedAt = object.lastModified;
      changes.modifiedTimestamp = Date.parse(object.lastModified) / 1000;
    }
    // With no local copy the known MD5 describes the object: it holds only while the object does.
    if (s3Only || row.localSize === null) changes.md5 = isPlainMd5Etag(object.etag) ? object.etag.toLowerCase() : null;
  }
  if (localPath !== null && row.localPath === null) changes.localPath = localPath;

  changes.status = statusOf(row, object, file, s3Only, localChanged, s3Changed);
  return { changes, changed: s3Changed || s3TouchedOnly || localChanged };
}

function statusOf(
  row: ImageRow,
  object: ListedObject | null,
  file: LocalFile | null,
  s3Only: boolean,
  localChanged: boolean,
  s3Changed: boolean,
): SyncStatus | null {
  if (s3Only) return object ? "s3_only" : "missing";
  if (!object && !file) return "missing";
  if (!object) return "local_only";
  if (!file) return "s3_only";
  if (file.size !== object.size) return "out_of_sync";
  const localMd5 = trustedLocalMd5(row, file, localChanged);
  const s3Md5 = knownS3Md5(row, object);
  if (localMd5 && s3Md5) return localMd5 === s3Md5 ? "synced" : "out_of_sync";
  if (!localChanged && !s3Changed && (row.status === "synced" || row.status === "out_of_sync")) return row.status;
  return null;
}

/** `images.md5` as the local content's MD5: only while the file is the one it was recorded for. */
function trustedLocalMd5(row: ImageRow, file: LocalFile, localChanged: boolean): string | null {
  if (!row.md5 || localChanged) return null;
  if (row.localSize !== null) return row.md5.toLowerCase();
  // First look at this file: the manifest's MD5 describes it if the manifest said it was local.
  const manifestSaysLocal = row.status === "synced" || row.status === "out_of_sync" || row.status === "local_only";
  return manifestSaysLocal && (row.sizeBytes === null || row.sizeBytes === file.size) ? row.md5.toLowerCase() : null;
}

/** The object's content MD5 when stat can know it: a plain ETag, or an MD5 established for this ETag. */
function knownS3Md5(row: ImageRow, object: ListedObject): string | null {
  if (isPlainMd5Etag(object.etag)) return object.etag.toLowerCase();
  if (row.s3Md5 && row.s3Md5Etag !== null && normalizeEtag(row.s3Md5Etag) === normalizeEtag(object.etag)) return row.s3Md5.toLowerCase();
  return null;
}

function newStatusOf(object: ListedObject | null, file: LocalFile | null, s3Only: boolean): SyncStatus | null {
  if (s3Only) return "s3_only";
  if (object && file) return object.size !== file.size ? "out_of_sync" : null;
  return object ? "s3_only" : "local_only";
}

function normalizeEtag(etag: string | null): string | null {
  return etag === null ? null : etag.replace(/^W\//, "").replace(/"/g, "").toLowerCase();
}
