import { humanSize } from "../human-size.ts";
import type { ActorOutcome, OutcomeStep } from "../sync/jobs/job-work.ts";
import type { PlanTotals } from "../db/job-writes.ts";
import type { TrashedLoser } from "../sync/operations/plan.ts";
import { builder } from "./builder.ts";
import { TrashSideEnum } from "./trash.ts";

// What an operation did, or plans to do, to one actor: shared by the jobs' actor rows and the inline mutations' payloads.

export const SyncDirectionEnum = builder.enumType("SyncDirection", {
  description: "Which way a sync copies.",
  values: {
    PUSH: { value: "push", description: "Local disk to S3 only." },
    PULL: { value: "pull", description: "S3 to local disk only." },
    BOTH: { value: "both", description: "Both ways." },
  } as const,
});

export const OutOfSyncResolutionEnum = builder.enumType("OutOfSyncResolution", {
  description: "Who wins when both sides hold different content (OUT_OF_SYNC).",
  values: {
    LOCAL: { value: "local", description: "The local file wins (uploaded over the S3 object)." },
    S3: { value: "s3", description: "The S3 object wins (downloaded over the local file)." },
    NEWER: { value: "newer", description: "The side modified last wins." },
    SKIP: { value: "skip", description: "Leave out-of-sync images alone (the default)." },
  } as const,
});

export const PlanTotalsType = builder.objectRef<PlanTotals>("PlanTotals").implement({
  description: "What a plan copies, overwrites and deletes, with bytes (for a dry run: what it would do).",
  fields: (t) => ({
    uploads: t.exposeInt("uploads", { description: "Images copied to S3." }),
    uploadBytes: t.exposeFloat("uploadBytes", { description: "Bytes copied to S3." }),
    downloads: t.exposeInt("downloads", { description: "Images copied to local disk." }),
    downloadBytes: t.exposeFloat("downloadBytes", { description: "Bytes copied to local disk." }),
    overwrites: t.exposeInt("overwrites", { description: "Uploads and downloads that replace different content on the other side." }),
    overwriteBytes: t.exposeFloat("overwriteBytes", { description: "Bytes of those overwrites." }),
    deletes: t.exposeInt("deletes", { description: "Images deleted (from S3, disk or the manifest)." }),
    deleteBytes: t.exposeFloat("deleteBytes", { description: "Bytes of those deletions." }),
    trashed: t.exposeInt("trashed", {
      description: "Files and objects those overwrites and deletions move to the trash first (losers are kept).",
    }),
    trashBytes: t.exposeFloat("trashBytes", { description: "Bytes moved to the trash." }),
    summary: t.string({
      description: "The same for people, e.g. `3 uploads (1.2 MB), 0 downloads, 0 overwrites, 0 deletes`.",
      resolve: (p) => planSummary(p),
    }),
  }),
});

function planSummary(p: PlanTotals): string {
  const part = (count: number, noun: string, bytes: number) =>
    `${count} ${noun}${count === 1 ? "" : "s"}${count > 0 ? ` (${humanSize(bytes)})` : ""}`;
  return [
    part(p.uploads, "upload", p.uploadBytes),
    part(p.downloads, "download", p.downloadBytes),
    part(p.overwrites, "overwrite", p.overwriteBytes),
    part(p.deletes, "delete", p.deleteBytes),
  ]
    .concat(p.trashed > 0 ? [`${p.trashed} to the trash (${humanSize(p.trashBytes)})`] : [])
    .join(", ");
}

export const StatusCounts = builder.objectRef<NonNullable<ActorOutcome["counts"]>>("StatusCounts").implement({
  description: "How many images have each sync status after a check.",
  fields: (t) => ({
    synced: t.int({ description: "SYNCED.", resolve: (c) => c.synced ?? 0 }),
    localOnly: t.int({ description: "LOCAL_ONLY.", resolve: (c) => c.local_only ?? 0 }),
    s3Only: t.int({ description: "S3_ONLY.", resolve: (c) => c.s3_only ?? 0 }),
    outOfSync: t.int({ description: "OUT_OF_SYNC.", resolve: (c) => c.out_of_sync ?? 0 }),
    missing: t.int({ description: "MISSING.", resolve: (c) => c.missing ?? 0 }),
    unchecked: t.int({ description: "Not checked (scan could not tell; audit will).", resolve: (c) => c.unchecked ?? 0 }),
  }),
});

const StatusChange = builder.objectRef<{ filename: string; from: string | null; to: string | null }>("StatusChange").implement({
  description: "An image whose sync status changed.",
  fields: (t) => ({
    filename: t.exposeString("filename", { description: "The image." }),
    from: t.string({ nullable: true, description: "Status before (null: not checked).", resolve: (c) => c.from?.toUpperCase() ?? null }),
    to: t.string({ nullable: true, description: "Status now (null: not checked).", resolve: (c) => c.to?.toUpperCase() ?? null }),
  }),
});

const TrashedLoserType = builder.objectRef<TrashedLoser>("TrashedLoser").implement({
  description: "Content a step replaces or deletes, which goes to the trash first (losers are kept).",
  fields: (t) => ({
    side: t.field({ type: TrashSideEnum, description: "The side it is on.", resolve: (l) => l.side }),
    bytes: t.exposeFloat("bytes", { description: "Its size as last known." }),
  }),
});

export const PlanStepType = builder.objectRef<OutcomeStep>("PlanStep").implement({
  description: "One change of a plan to one image, and what became of it.",
  fields: (t) => ({
    kind: t.exposeString("kind", { description: "upload, download, delete, prune, rate or add." }),
    filename: t.exposeString("filename", { description: "The image." }),
    bytes: t.exposeFloat("bytes", { description: "Bytes moved or deleted." }),
    overwrite: t.exposeBoolean("overwrite", { description: "It replaces different content on the other side." }),
    toTrash: t.field({
      type: [TrashedLoserType],
      description: "What it moves to the trash before replacing or deleting it.",
      resolve: (s) => s.toTrash ?? [],
    }),
    reason: t.exposeString("reason", { description: "Why the plan does it." }),
    applied: t.exposeBoolean("applied", { description: "False for a dry run (planned only)." }),
    ok: t.boolean({ nullable: true, description: "Whether it worked; null when not applied.", resolve: (s) => s.ok }),
    error: t.string({ nullable: true, description: "Why it failed.", resolve: (s) => s.error }),
  }),
});

export const SkippedImage = builder.objectRef<{ filename: string; reason: string }>("SkippedImage").implement({
  description: "An image a plan leaves alone, and why.",
  fields: (t) => ({
    filename: t.exposeString("filename", { description: "The image." }),
    reason: t.exposeString("reason", { description: "Why it is left alone (e.g. out of sync with no winner chosen)." }),
  }),
});

export const PendingFileType = builder.objectRef<{ actor?: string; file: string; reason: string }>("PendingFile").implement({
  description: "A manifest file that does not say yet what a change did, and why it could not be written (its content is never quoted).",
  fields: (t) => ({
    actorName: t.string({ nullable: true, description: "The actor it belongs to.", resolve: (p) => p.actor ?? null }),
    file: t.exposeString("file", { description: "Path of the manifest file." }),
    reason: t.exposeString("reason", { description: "Why it could not be written." }),
  }),
});
/** Outcome fields shared by the job actor rows and the inline mutations' payloads. */
type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

export function outcomeFields<T>(t: PothosSchemaTypes.ObjectFieldBuilder<Types, T>, of: (parent: T) => ActorOutcome) {
  return {
    counts: t.field({
      type: StatusCounts,
      nullable: true,
      description: "Statuses after a scan or audit.",
      resolve: (p: T) => of(p).counts ?? null,
    }),
    statusChanges: t.field({
      type: [StatusChange],
      description: "Images whose status changed.",
      resolve: (p: T) => of(p).statusChanges ?? [],
    }),
    planTotals: t.field({
      type: PlanTotalsType,
      nullable: true,
      description: "For a sync: what its plan copies and deletes.",
      resolve: (p: T) => of(p).totals ?? null,
    }),
    steps: t.field({
      type: [PlanStepType],
      description: "For a sync: each planned step and what became of it.",
      resolve: (p: T) => of(p).steps ?? [],
    }),
    skipped: t.field({
      type: [SkippedImage],
      description: "For a sync: images left alone, and why.",
      resolve: (p: T) => of(p).skipped ?? [],
    }),
    added: t.stringList({
      description: "For a scan: images found under the folder or prefix that no manifest listed (added).",
      resolve: (p: T) => of(p).added ?? [],
    }),
    removed: t.stringList({
      description: "For a scan: images whose object or file is gone from a side.",
      resolve: (p: T) => of(p).removed ?? [],
    }),
    changed: t.stringList({ description: "For a scan: images whose ETag, size or time changed.", resolve: (p: T) => of(p).changed ?? [] }),
    needsAudit: t.stringList({
      description: "For a scan: images whose status stat alone cannot tell (run an audit).",
      resolve: (p: T) => of(p).needsAudit ?? [],
    }),
    manifestsWritten: t.stringList({ description: "Manifest files written through.", resolve: (p: T) => of(p).manifestsWritten ?? [] }),
    pendingFiles: t.field({
      type: [PendingFileType],
      description:
        "Manifest files that could not be written after the steps were done: the next change to the actor, an export or the next start writes them.",
      resolve: (p: T) => of(p).pendingFiles ?? [],
    }),
  };
}
