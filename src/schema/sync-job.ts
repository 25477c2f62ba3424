import DataLoader from "dataloader";
import { GraphQLError } from "graphql";
import { actorByName, actorsByIds } from "../db/actor-queries.ts";
import {
  countJobs,
  jobActorsByJobIds,
  jobById,
  jobsByIds,
  jobSummariesByIds,
  pageJobs,
  type JobActorState,
  type JobSummaryRow,
  type PlanTotals,
} from "../db/job-writes.ts";
import type { ActorRow, JobActorRow, JobRow } from "../db/schema.ts";
import { auditActor } from "../sync/checks/audit.ts";
import {
  auditOutcome,
  scanOutcome,
  startAuditJob,
  startScanJob,
  startSyncJob,
  syncOutcome,
  type ActorOutcome,
  type ActorSelection,
  type OutcomeStep,
} from "../sync/jobs/job-work.ts";
import type { JobEvent, JobRunner, ActorChange } from "../sync/jobs/jobs.ts";
import { assertSafeName } from "../sync/files/layout.ts";
import type { OutOfSyncResolution, SyncDirection, TrashedLoser } from "../sync/operations/plan.ts";
import { scanActor } from "../sync/checks/scan.ts";
import type { S3Access } from "../sync/s3/s3-client.ts";
import { syncActors } from "../sync/operations/sync.ts";
import { Actor } from "./actor.ts";
import { builder, maxPageSize } from "./builder.ts";
import { RequestLoaders, type GraphQLContext } from "./context.ts";
import { decodeCursor, encodeCursor, pageSize, connectionComplexity } from "./cursor.ts";
import { ErrorInterface, InvalidFilterError, notFound, readWithArguments, UnknownActorError, UnsafeNameError } from "./errors.ts";
import { humanSize } from "../human-size.ts";
import { ManifestConflictError } from "../sync/manifests/export.ts";
import { partiallyApplied, PartiallyAppliedError, type AppliedChange } from "../sync/operations/operation-common.ts";

// ---------------------------------------------------------------------------------------------
// Errors

/** The server has no S3 connection (or no job runner): reads work, S3 operations cannot. */
export class NotConfiguredError extends Error {
  constructor(readonly missing: string) {
    super(`this server has no ${missing} configured: reads work, but this operation needs it`);
    this.name = "NotConfiguredError";
  }
}

/** S3 (or the local disk) refused or failed after retries; nothing was changed for the actor. */
export class S3RefusedError extends Error {
  constructor(
    readonly actorName: string,
    readonly reason: string,
  ) {
    super(`${actorName}: ${reason}`);
    this.name = "S3RefusedError";
  }
}

/** A listing that looked wrong (empty, or most of the actor gone): nothing was changed. */
export class SuspectListingRefusal extends Error {
  constructor(
    readonly actorName: string,
    readonly reason: string,
  ) {
    super(reason.startsWith(actorName) ? reason : `${actorName}: ${reason}`);
    this.name = "SuspectListingError";
  }
}

builder.objectType(NotConfiguredError, {
  name: "NotConfiguredError",
  description: "The server was started without what this operation needs (an S3 connection); reads still work.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotConfiguredError,
  fields: (t) => ({ missing: t.exposeString("missing", { description: "What is missing, e.g. `S3 connection`." }) }),
});

builder.objectType(S3RefusedError, {
  name: "S3RefusedError",
  description: "S3 (or the local disk) refused the request or kept failing after retries; nothing was changed for this actor.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof S3RefusedError,
  fields: (t) => ({
    actorName: t.exposeString("actorName", { description: "The actor being worked on." }),
    reason: t.exposeString("reason", { description: "What S3 or the disk answered." }),
  }),
});

builder.objectType(SuspectListingRefusal, {
  name: "SuspectListingError",
  description:
    "A listing came back empty or would mark more than the allowed share of the actor's images gone (wrong prefix, credentials, unmounted disk): nothing was changed. Pass `allowSuspect: true` to apply it anyway.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof SuspectListingRefusal,
  fields: (t) => ({
    actorName: t.exposeString("actorName", { description: "The actor whose listing looked wrong." }),
    reason: t.exposeString("reason", { description: "Why it looked wrong." }),
  }),
});

const PendingFileType = builder.objectRef<{ actor?: string; file: string; reason: string }>("PendingFile").implement({
  description: "A manifest file that does not say yet what a change did, and why it could not be written (its content is never quoted).",
  fields: (t) => ({
    actorName: t.string({ nullable: true, description: "The actor it belongs to.", resolve: (p) => p.actor ?? null }),
    file: t.exposeString("file", { description: "Path of the manifest file." }),
    reason: t.exposeString("reason", { description: "Why it could not be written." }),
  }),
});

const AppliedChangeType = builder.objectRef<AppliedChange>("AppliedChange").implement({
  description: "A change done in SQLite, S3 and on disk.",
  fields: (t) => ({
    actorName: t.exposeString("actor", { description: "The actor." }),
    filename: t.exposeString("filename", { description: "The image." }),
    kind: t.exposeString("kind", { description: "rate, delete, add, upload, download or prune." }),
  }),
});

builder.objectType(PartiallyAppliedError, {
  name: "PartiallyAppliedError",
  description:
    "The change is done in SQLite, S3 and on disk (`done`), but the manifest files in `pending` could not be written yet. Nothing is lost: the next change to the actor, `exportManifests` or the next start of the service writes them.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof PartiallyAppliedError,
  fields: (t) => ({
    done: t.field({ type: [AppliedChangeType], description: "What was changed.", resolve: (e) => e.done }),
    pending: t.field({ type: [PendingFileType], description: "The manifest files still to write, each with the reason.", resolve: (e) => e.pending }),
    actors: t.field({ type: [Actor], description: "The actors changed, with fresh statistics.", resolve: (e) => e.actorIds }),
  }),
});

const actorErrors = [UnknownActorError, UnsafeNameError, NotConfiguredError, S3RefusedError, SuspectListingRefusal];

// ---------------------------------------------------------------------------------------------
// Enums and small types

const JobKindEnum = builder.enumType("JobKind", {
  description: "What a job does.",
  values: {
    SCAN: { value: "scan", description: "Stat-only check of S3 listings and local folders." },
    AUDIT: { value: "audit", description: "Content check (MD5s through the hash cache)." },
    SYNC: { value: "sync", description: "Copies between local disk and S3 to bring actors in sync." },
    DELETE: { value: "delete", description: "Deletes images." },
    PRUNE_LOCAL: { value: "prune_local", description: "Removes local copies that S3 verifiably holds." },
    MIGRATE_LEGACY: { value: "migrate_legacy", description: "Imports legacy response.json files." },
    RATE: { value: "rate", description: "Rates images good, bad or unrated (a CLI `rate` run)." },
    ADD: { value: "add", description: "Adds image files to an actor (a CLI `add` run)." },
    IMPORT: { value: "import", description: "Reads the manifests into SQLite (a CLI `import` run)." },
    EXPORT: { value: "export", description: "Writes the manifests from SQLite (a CLI `export` run)." },
  } as const,
});

const JobStateEnum = builder.enumType("JobState", {
  description: "Where a job is in its life.",
  values: {
    RUNNING: { value: "running", description: "Working now." },
    SUCCEEDED: { value: "succeeded", description: "Ran to its end (some actors may still have failed: see `actorsFailed`)." },
    FAILED: { value: "failed", description: "Stopped by an error; see `error`." },
    INTERRUPTED: { value: "interrupted", description: "The service stopped while it ran; run it again (every step is safe to repeat)." },
  } as const,
});

const JobActorStateEnum = builder.enumType("JobActorState", {
  description: "What became of one actor in a job.",
  values: {
    PENDING: { value: "pending", description: "Not done yet." },
    SUCCEEDED: { value: "succeeded", description: "Done without error." },
    FAILED: { value: "failed", description: "Failed; see `error` (and each step's)." },
    SKIPPED: { value: "skipped", description: "Left alone." },
  } as const,
});

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
    trashed: t.exposeInt("trashed", { description: "Files and objects those overwrites and deletions move to the trash first (losers are kept)." }),
    trashBytes: t.exposeFloat("trashBytes", { description: "Bytes moved to the trash." }),
    summary: t.string({
      description: "The same for people, e.g. `3 uploads (1.2 MB), 0 downloads, 0 overwrites, 0 deletes`.",
      resolve: (p) => planSummary(p),
    }),
  }),
});

function planSummary(p: PlanTotals): string {
  const part = (count: number, noun: string, bytes: number) => `${count} ${noun}${count === 1 ? "" : "s"}${count > 0 ? ` (${humanSize(bytes)})` : ""}`;
  return [part(p.uploads, "upload", p.uploadBytes), part(p.downloads, "download", p.downloadBytes), part(p.overwrites, "overwrite", p.overwriteBytes), part(p.deletes, "delete", p.deleteBytes)]
    .concat(p.trashed > 0 ? [`${p.trashed} to the trash (${humanSize(p.trashBytes)})`] : [])
    .join(", ");
}

type StatusCountsShape = Partial<Record<"synced" | "local_only" | "s3_only" | "out_of_sync" | "missing" | "unchecked", number>>;

const StatusCounts = builder.objectRef<StatusCountsShape>("StatusCounts").implement({
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

export const TrashSideEnum = builder.enumType("TrashSide", {
  description: "Which side a trashed file or object came from.",
  values: {
    LOCAL: { value: "local", description: "A local file, kept under `$DATA_DIR/.trash/`." },
    S3: { value: "s3", description: "An S3 object, kept under the trash prefix `{S3_PREFIX}.trash/` (or as a version in a bucket that keeps versions)." },
  } as const,
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
    toTrash: t.field({ type: [TrashedLoserType], description: "What it moves to the trash before replacing or deleting it.", resolve: (s) => s.toTrash ?? [] }),
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

/** Outcome fields shared by the job actor rows and the inline mutations' payloads. */
type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

export function outcomeFields<T>(t: PothosSchemaTypes.ObjectFieldBuilder<Types, T>, of: (parent: T) => ActorOutcome) {
  return {
    counts: t.field({ type: StatusCounts, nullable: true, description: "Statuses after a scan or audit.", resolve: (p: T) => of(p).counts ?? null }),
    statusChanges: t.field({ type: [StatusChange], description: "Images whose status changed.", resolve: (p: T) => of(p).statusChanges ?? [] }),
    planTotals: t.field({ type: PlanTotalsType, nullable: true, description: "For a sync: what its plan copies and deletes.", resolve: (p: T) => of(p).totals ?? null }),
    steps: t.field({ type: [PlanStepType], description: "For a sync: each planned step and what became of it.", resolve: (p: T) => of(p).steps ?? [] }),
    skipped: t.field({ type: [SkippedImage], description: "For a sync: images left alone, and why.", resolve: (p: T) => of(p).skipped ?? [] }),
    added: t.stringList({ description: "For a scan: images found under the folder or prefix that no manifest listed (added).", resolve: (p: T) => of(p).added ?? [] }),
    removed: t.stringList({ description: "For a scan: images whose object or file is gone from a side.", resolve: (p: T) => of(p).removed ?? [] }),
    changed: t.stringList({ description: "For a scan: images whose ETag, size or time changed.", resolve: (p: T) => of(p).changed ?? [] }),
    needsAudit: t.stringList({ description: "For a scan: images whose status stat alone cannot tell (run an audit).", resolve: (p: T) => of(p).needsAudit ?? [] }),
    manifestsWritten: t.stringList({ description: "Manifest files written through.", resolve: (p: T) => of(p).manifestsWritten ?? [] }),
    pendingFiles: t.field({
      type: [PendingFileType],
      description: "Manifest files that could not be written after the steps were done: the next change to the actor, an export or the next start writes them.",
      resolve: (p: T) => of(p).pendingFiles ?? [],
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Jobs

const JobProgress = builder.objectRef<{ actorsDone: number; actorsTotal: number; bytesDone: number; bytesTotal: number; phase?: string | null }>("JobProgress").implement({
  description: "How far a job has come.",
  fields: (t) => ({
    actorsDone: t.exposeInt("actorsDone", { description: "Actors finished." }),
    actorsTotal: t.exposeInt("actorsTotal", { description: "Actors to do." }),
    bytesDone: t.exposeFloat("bytesDone", { description: "Bytes moved (sync) or hashed (audit) so far." }),
    bytesTotal: t.exposeFloat("bytesTotal", { description: "Bytes to move (sync); 0 when not known ahead." }),
    percent: t.float({
      description: "Percent done, by bytes when known, else by actors.",
      resolve: (p) => Math.round((p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.actorsTotal > 0 ? p.actorsDone / p.actorsTotal : 0) * 1000) / 10,
    }),
    phase: t.string({ nullable: true, description: "What the job does now (`audit`, `transfer`, …); only in live events.", resolve: (p) => p.phase ?? null }),
  }),
});

const JobActorOutcome = builder.objectRef<JobActorRow>("JobActorOutcome").implement({
  description: "What a job did to one actor.",
  fields: (t) => ({
    actorName: t.exposeString("actorName", { description: "The actor's name when the job ran." }),
    actor: t.field({ type: Actor, nullable: true, description: "The actor now (null if it was removed since).", resolve: (row) => row.actorId }),
    state: t.field({ type: JobActorStateEnum, description: "Done, failed, or still to do.", resolve: (row) => row.state }),
    error: t.string({ nullable: true, description: "Why it failed.", resolve: (row) => row.error }),
    ...outcomeFields<JobActorRow>(t, (row) => parseOutcome(row)),
  }),
});

const outcomeCache = new WeakMap<JobActorRow, ActorOutcome>();
function parseOutcome(row: JobActorRow): ActorOutcome {
  let outcome = outcomeCache.get(row);
  if (!outcome) {
    outcome = row.outcome ? (JSON.parse(row.outcome) as ActorOutcome) : {};
    outcomeCache.set(row, outcome);
  }
  return outcome;
}

/** Loaders of this file, made per request (per event for a subscription, which renews `ctx.loaders`). */
const jobLoaders = new WeakMap<RequestLoaders, Map<string, DataLoader<number, unknown>>>();
function jobLoader<V>(ctx: GraphQLContext, key: string, batch: (ids: readonly number[]) => V[]): DataLoader<number, V> {
  let loaders = jobLoaders.get(ctx.loaders);
  if (!loaders) jobLoaders.set(ctx.loaders, (loaders = new Map()));
  let loader = loaders.get(key);
  if (!loader) loaders.set(key, (loader = new DataLoader<number, unknown>(async (ids) => batch(ids))));
  return loader as DataLoader<number, V>;
}

const summaryOf = (ctx: GraphQLContext, job: JobRow) => jobLoader<JobSummaryRow>(ctx, "summary", (ids) => jobSummariesByIds(ctx.app.db, ids)).load(job.id);

export const SyncJob = builder.objectRef<JobRow>("SyncJob").implement({
  description: "A long or writing operation (scan, audit, sync, …) run in the background of the server or as a CLI run, kept as history with each actor's outcome.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Job id: pass it to `job(id)` or the `jobProgress(id)` subscription." }),
    kind: t.field({ type: JobKindEnum, description: "What the job does.", resolve: (job) => job.kind as never }),
    state: t.field({ type: JobStateEnum, description: "Running, or how it ended.", resolve: (job) => job.state }),
    dryRun: t.exposeBoolean("dryRun", { description: "True when the job only planned (nothing was changed)." }),
    parameters: t.string({ description: "The options it was started with, as JSON.", resolve: (job) => job.params ?? "null" }),
    progress: t.field({ type: JobProgress, description: "How far it has come (written at a bounded rate while it runs).", resolve: (job) => job }),
    startedAt: t.expose("startedAt", { type: "DateTime", description: "When it started." }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true, description: "When it ended; null while running." }),
    error: t.string({ nullable: true, description: "Why the job failed as a whole (per-actor failures are on the actors).", resolve: (job) => job.error }),
    actorsSucceeded: t.int({ description: "Actors done without error.", resolve: async (job, _args, ctx) => (await summaryOf(ctx, job)).succeeded }),
    actorsFailed: t.int({ description: "Actors that failed.", resolve: async (job, _args, ctx) => (await summaryOf(ctx, job)).failed }),
    actorsPending: t.int({ description: "Actors not done yet.", resolve: async (job, _args, ctx) => (await summaryOf(ctx, job)).pending }),
    planTotals: t.field({
      type: PlanTotalsType,
      nullable: true,
      description: "For a sync (dry run or not): the sum of every actor's plan, with bytes. Null for other kinds.",
      resolve: async (job, _args, ctx) => (job.kind === "scan" || job.kind === "audit" ? null : await summaryOf(ctx, job)),
    }),
    statusCounts: t.field({
      type: StatusCounts,
      nullable: true,
      description: "For a scan or audit: images by status over the actors it checked. Null for other kinds.",
      resolve: async (job, _args, ctx) => {
        if (job.kind !== "scan" && job.kind !== "audit") return null;
        const s = await summaryOf(ctx, job);
        return { synced: s.synced, local_only: s.localOnly, s3_only: s.s3Only, out_of_sync: s.outOfSync, missing: s.missing, unchecked: s.unchecked };
      },
    }),
    actors: t.field({
      type: [JobActorOutcome],
      description: "Each actor's outcome, by name.",
      args: {
        first: t.arg.int({ defaultValue: 100, description: `How many (at most ${maxPageSize}).` }),
        state: t.arg({ type: JobActorStateEnum, description: "Only actors in this state (e.g. FAILED)." }),
      },
      complexity: (args) => ({ field: 2, multiplier: Math.max(1, Math.min(args.first ?? 100, maxPageSize)) }),
      resolve: (job, args, ctx) => {
        const first = Math.max(0, Math.min(args.first ?? 100, maxPageSize));
        const state = (args.state ?? undefined) as JobActorState | undefined;
        return jobLoader<JobActorRow[]>(ctx, `actors:${first}:${state ?? ""}`, (ids) => jobActorsByJobIds(ctx.app.db, ids, { first, state })).load(job.id);
      },
    }),
  }),
});

builder.queryFields((t) => ({
  job: t.field({
    type: SyncJob,
    nullable: true,
    description: "One job by id, running or past, with each actor's outcome; null, with a NOT_FOUND error, when there is none.",
    args: { id: t.arg.id({ required: true, description: "The id a `start…` mutation returned." }) },
    resolve: (_root, args, ctx) => {
      const id = Number(args.id);
      const row = Number.isSafeInteger(id) && id > 0 ? jobById(ctx.app.db, id) : undefined;
      if (!row) throw notFound(`no job with id ${JSON.stringify(String(args.id))}`, "id");
      return row;
    },
  }),
  jobs: t.connection(
    {
      type: SyncJob,
      nullable: true,
      description: "Jobs, newest first. Null (with an error) when an argument is refused.",
      args: { kind: t.arg({ type: JobKindEnum, description: "Only jobs of this kind." }) },
      complexity: connectionComplexity,
      resolve: (_root, args, ctx) =>
        readWithArguments(() => {
          const first = pageSize(args);
          const after = args.after != null ? decodeCursor(args.after, "jobs", ([id]) => (typeof id === "number" ? id : undefined)) : undefined;
          const kind = args.kind ?? undefined;
          const page = pageJobs(ctx.app.db, first, after, kind);
          const edges = page.rows.map((row) => ({ cursor: encodeCursor("jobs", [row.id]), node: row }));
          return {
            edges,
            pageInfo: { hasNextPage: page.hasNextPage, hasPreviousPage: after !== undefined, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
            totalCount: () => countJobs(ctx.app.db, kind),
          };
        }),
    },
    { name: "SyncJobConnection", description: "A page of jobs." },
    { name: "SyncJobEdge", description: "A job and its cursor." },
  ),
}));

// ---------------------------------------------------------------------------------------------
// Mutations

export function requireS3(ctx: GraphQLContext): S3Access {
  if (!ctx.app.s3) throw new NotConfiguredError("S3 connection");
  return ctx.app.s3;
}

export function requireJobs(ctx: GraphQLContext): { s3: S3Access; jobs: JobRunner } {
  const s3 = requireS3(ctx);
  if (!ctx.app.jobs) throw new NotConfiguredError("job runner");
  return { s3, jobs: ctx.app.jobs };
}

export function requireActor(ctx: GraphQLContext, name: string): ActorRow {
  const row = actorByName(ctx.app.db, assertSafeName(name));
  if (!row) throw new UnknownActorError({ name });
  return row;
}

export function freshActor(ctx: GraphQLContext, actorId: number): ActorRow {
  const row = actorsByIds(ctx.app.db, [actorId])[0];
  if (!row) throw new Error(`actor ${actorId} vanished`);
  return row;
}

export function selectionOf(ctx: GraphQLContext, actors: readonly string[] | null | undefined, all: boolean | null | undefined): ActorSelection {
  if (all && actors && actors.length > 0) throw new InvalidFilterError("actors", "give either actors or all: true, not both");
  if (all) return { all: true };
  if (!actors || actors.length === 0) throw new InvalidFilterError("actors", "say which actors: a list of names, or all: true");
  return { actorIds: [...new Set(actors.map((name) => requireActor(ctx, name).id))] };
}

export function announce(ctx: GraphQLContext, actor: ActorRow, reason: string): void {
  ctx.app.jobs?.actorChanged({ actorId: actor.id, name: actor.name, reason, jobId: null });
}


interface ActorCheckPayload {
  actor: ActorRow;
  outcome: ActorOutcome;
  filesHashed?: number;
  filesFromCache?: number;
  bytesHashed?: number;
}

const ActorCheckPayload = builder.objectRef<ActorCheckPayload>("ActorCheckPayload").implement({
  description: "What a scan or audit of one actor found; `actor` carries the fresh statistics.",
  fields: (t) => ({
    actor: t.field({ type: Actor, description: "The actor after the check.", resolve: (p) => p.actor }),
    filesHashed: t.int({ nullable: true, description: "For an audit: local files read and hashed.", resolve: (p) => p.filesHashed ?? null }),
    filesFromCache: t.int({ nullable: true, description: "For an audit: local MD5s taken from the hash cache (no read).", resolve: (p) => p.filesFromCache ?? null }),
    bytesHashed: t.float({ nullable: true, description: "For an audit: bytes of local files read.", resolve: (p) => p.bytesHashed ?? null }),
    ...outcomeFields<ActorCheckPayload>(t, (p) => p.outcome),
  }),
});

interface ActorSyncPayload {
  actor: ActorRow;
  dryRun: boolean;
  outcome: ActorOutcome;
  failedSteps: number;
}

const ActorSyncPayload = builder.objectRef<ActorSyncPayload>("ActorSyncPayload").implement({
  description: "The plan of a sync of one actor and, unless a dry run, what became of each step.",
  fields: (t) => ({
    actor: t.field({ type: Actor, description: "The actor after the sync.", resolve: (p) => p.actor }),
    dryRun: t.exposeBoolean("dryRun", { description: "True when nothing was changed (plan only)." }),
    failedSteps: t.exposeInt("failedSteps", { description: "Steps that failed (each with its error in `steps`)." }),
    ...outcomeFields<ActorSyncPayload>(t, (p) => p.outcome),
  }),
});

const SyncInput = builder.inputType("SyncInput", {
  description: "Which actors to sync and how.",
  fields: (t) => ({
    actors: t.stringList({ description: "Actor names; or set `all`." }),
    all: t.boolean({ defaultValue: false, description: "Every actor." }),
    direction: t.field({ type: SyncDirectionEnum, defaultValue: "both", description: "Which way to copy (default BOTH)." }),
    outOfSync: t.field({ type: OutOfSyncResolutionEnum, defaultValue: "skip", description: "Who wins for OUT_OF_SYNC images (default SKIP: leave them)." }),
    dryRun: t.boolean({ defaultValue: false, description: "Only plan: the job records what would be uploaded, downloaded, overwritten and deleted, and changes nothing." }),
  }),
});

export const startErrors = [UnknownActorError, UnsafeNameError, InvalidFilterError, NotConfiguredError];

builder.mutationFields((t) => ({
  scanActor: t.field({
    type: ActorCheckPayload,
    description: "Scans one actor now (stat only: lists its S3 prefix and local folder) and returns what changed with its fresh statistics.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Apply a listing that looks suspect (empty, or most images gone)." }),
    },
    errors: { types: actorErrors, directResult: true, union: { name: "ScanActorResult", description: "What the scan found, or why it did not run." } },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const actor = requireActor(ctx, args.name);
      const run = () => scanActor(ctx.app, s3, actor.id, { allowSuspect: args.allowSuspect ?? false });
      const result = await (ctx.app.jobs ? ctx.app.jobs.locks.run(actor.id, run) : run());
      if (result.outcome === "suspect") throw new SuspectListingRefusal(actor.name, result.error ?? "suspect listing");
      if (result.outcome === "failed") throw new S3RefusedError(actor.name, result.error ?? "scan failed");
      announce(ctx, actor, "scan");
      return { actor: freshActor(ctx, actor.id), outcome: scanOutcome(result) };
    },
  }),
  auditActor: t.field({
    type: ActorCheckPayload,
    description:
      "Audits one actor now (content check: local MD5s through the hash cache against the S3 content MD5s of the last listing, or of a new one with `listS3`) and returns its statuses with fresh statistics.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Audit even when a listing looks suspect." }),
      listS3: t.arg.boolean({
        defaultValue: false,
        description: "List S3 first; by default the S3 side is compared as the last scan, sync or listing audit recorded it (`Actor.s3ListedAt`).",
      }),
    },
    errors: { types: actorErrors, directResult: true, union: { name: "AuditActorResult", description: "What the audit found, or why it did not run." } },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const actor = requireActor(ctx, args.name);
      // The audit takes the actor's lock itself.
      const result = await auditActor(ctx.app, s3, actor.id, { allowSuspect: args.allowSuspect ?? false, listS3: args.listS3 ?? false, locks: ctx.app.jobs?.locks });
      if (!result.ok) {
        const reason = result.error ?? "audit failed";
        throw result.suspect ? new SuspectListingRefusal(actor.name, reason) : new S3RefusedError(actor.name, reason);
      }
      announce(ctx, actor, "audit");
      return {
        actor: freshActor(ctx, actor.id),
        outcome: auditOutcome(result),
        filesHashed: result.filesHashed,
        filesFromCache: result.filesFromCache,
        bytesHashed: result.bytesHashed,
      };
    },
  }),
  syncActor: t.field({
    type: ActorSyncPayload,
    description: "Syncs one actor now: audits it, plans, and unless `dryRun` applies the plan through the write-through path.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      direction: t.arg({ type: SyncDirectionEnum, defaultValue: "both", description: "Which way to copy (default BOTH)." }),
      outOfSync: t.arg({ type: OutOfSyncResolutionEnum, defaultValue: "skip", description: "Who wins for OUT_OF_SYNC images (default SKIP)." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only return the plan; change nothing." }),
    },
    errors: {
      types: [...actorErrors, ManifestConflictError, PartiallyAppliedError],
      directResult: true,
      union: { name: "SyncActorResult", description: "The plan and its outcome, or why the sync did not run." },
    },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const actor = requireActor(ctx, args.name);
      const dryRun = args.dryRun ?? false;
      const report = await syncActors(ctx.app, s3, {
        actorIds: [actor.id],
        direction: (args.direction ?? "both") as SyncDirection,
        outOfSync: (args.outOfSync ?? "skip") as OutOfSyncResolution,
        dryRun,
        locks: ctx.app.jobs?.locks,
      });
      const plan = report.plans.find((p) => p.actorId === actor.id);
      const failure = report.failedActors.find((f) => f.name === actor.name);
      if (!plan) {
        const reason = failure?.error ?? "sync failed";
        throw failure?.suspect ? new SuspectListingRefusal(actor.name, reason) : new S3RefusedError(actor.name, reason);
      }
      if (failure && !dryRun) throw new S3RefusedError(actor.name, failure.error);
      announce(ctx, actor, "sync");
      const half = partiallyApplied(report.results);
      if (half) throw half;
      const outcome = syncOutcome(plan, dryRun, report.results.find((r) => r.actorId === actor.id));
      return { actor: freshActor(ctx, actor.id), dryRun, outcome, failedSteps: report.failedSteps };
    },
  }),
  startScan: t.field({
    type: SyncJob,
    description: "Starts a scan job (stat only) of the named actors or of all; follow it with `jobProgress(id)` or `job(id)`.",
    args: {
      actors: t.arg.stringList({ description: "Actor names; or set `all`." }),
      all: t.arg.boolean({ defaultValue: false, description: "Every actor." }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Apply listings that look suspect." }),
    },
    errors: { types: startErrors, directResult: true, union: { name: "StartScanResult", description: "The job started, or why it did not start." } },
    resolve: (_root, args, ctx) => {
      const { s3, jobs } = requireJobs(ctx);
      const id = startScanJob({ ...ctx.app, s3, jobs }, selectionOf(ctx, args.actors, args.all), { allowSuspect: args.allowSuspect ?? false });
      return jobById(ctx.app.db, id)!;
    },
  }),
  startAudit: t.field({
    type: SyncJob,
    description: "Starts an audit job (content check) of the named actors or of all; follow it with `jobProgress(id)` or `job(id)`.",
    args: {
      actors: t.arg.stringList({ description: "Actor names; or set `all`." }),
      all: t.arg.boolean({ defaultValue: false, description: "Every actor." }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Audit even where a listing looks suspect." }),
      listS3: t.arg.boolean({
        defaultValue: false,
        description: "List S3 first; by default the S3 side is compared as the last scan, sync or listing audit recorded it (`Actor.s3ListedAt`).",
      }),
    },
    errors: { types: startErrors, directResult: true, union: { name: "StartAuditResult", description: "The job started, or why it did not start." } },
    resolve: (_root, args, ctx) => {
      const { s3, jobs } = requireJobs(ctx);
      const id = startAuditJob({ ...ctx.app, s3, jobs }, selectionOf(ctx, args.actors, args.all), {
        allowSuspect: args.allowSuspect ?? false,
        listS3: args.listS3 ?? false,
      });
      return jobById(ctx.app.db, id)!;
    },
  }),
  startSync: t.field({
    type: SyncJob,
    description:
      "Starts a sync job: reads changed manifests, audits, plans and (unless `dryRun`) copies through the write-through path. A dry run's job holds the plan (`planTotals`, each actor's `steps`).",
    args: { input: t.arg({ type: SyncInput, required: true, description: "Which actors and how." }) },
    errors: { types: startErrors, directResult: true, union: { name: "StartSyncResult", description: "The job started, or why it did not start." } },
    resolve: (_root, args, ctx) => {
      const { s3, jobs } = requireJobs(ctx);
      const input = args.input;
      const id = startSyncJob({ ...ctx.app, s3, jobs }, selectionOf(ctx, input.actors, input.all), {
        direction: (input.direction ?? "both") as SyncDirection,
        outOfSync: (input.outOfSync ?? "skip") as OutOfSyncResolution,
        dryRun: input.dryRun ?? false,
      });
      return jobById(ctx.app.db, id)!;
    },
  }),
}));

// ---------------------------------------------------------------------------------------------
// Subscriptions

const JobProgressEvent = builder.objectRef<JobEvent>("JobProgressEvent").implement({
  description: "One step of a job's progress; the last event of the stream has `finished: true`.",
  fields: (t) => ({
    jobId: t.id({ description: "The job.", resolve: (e) => e.jobId }),
    state: t.field({ type: JobStateEnum, description: "Running, or how it ended.", resolve: (e) => e.state }),
    finished: t.boolean({ description: "True on the last event: the job has ended.", resolve: (e) => e.state !== "running" }),
    progress: t.field({ type: JobProgress, description: "How far it has come.", resolve: (e) => e.progress }),
    changedActors: t.stringList({ description: "Actors whose rows changed since the previous event.", resolve: (e) => e.changedActors }),
    error: t.string({ nullable: true, description: "Why the job failed, on the last event.", resolve: (e) => e.error }),
    job: t.field({ type: SyncJob, description: "The job as recorded now (per-actor outcomes included).", resolve: (e, _args, ctx) => jobsByIds(ctx.app.db, [e.jobId])[0]! }),
  }),
});

const ActorChangeEvent = builder.objectRef<ActorChange>("ActorChangeEvent").implement({
  description: "An actor's rows changed (through a mutation or a job).",
  fields: (t) => ({
    name: t.exposeString("name", { description: "The actor's name." }),
    reason: t.exposeString("reason", { description: "What changed it: `scan`, `audit`, `sync`, …" }),
    jobId: t.id({ nullable: true, description: "The job that changed it, if any.", resolve: (e) => e.jobId }),
    actor: t.field({
      type: Actor,
      nullable: true,
      description: "The actor now, fresh from SQLite (null if it no longer exists).",
      resolve: (e, _args, ctx) => actorByName(ctx.app.db, e.name),
    }),
  }),
});

/** A subscription's context lives as long as the stream: renew the per-request loaders for every event, so no event reads a stale row. */
function renewLoaders(ctx: GraphQLContext): void {
  ctx.loaders = new RequestLoaders(ctx.app);
}

builder.subscriptionFields((t) => ({
  jobProgress: t.field({
    type: JobProgressEvent,
    description: "Streams a job's progress and the actors it changed, starting with its state now and ending when it ends.",
    args: { id: t.arg.id({ required: true, description: "The job's id." }) },
    subscribe: (_root, args, ctx) => {
      if (!ctx.app.jobs) throw new GraphQLError("this server runs no jobs", { extensions: { code: "NOT_CONFIGURED" } });
      const stream = ctx.app.jobs.events(Number(args.id));
      if (!stream) throw new GraphQLError(`no job with id ${JSON.stringify(args.id)}`, { extensions: { code: "NOT_FOUND" } });
      return stream;
    },
    resolve: (event, _args, ctx) => {
      renewLoaders(ctx);
      return event;
    },
  }),
  actorChanged: t.field({
    type: ActorChangeEvent,
    description: "Streams a change event whenever an actor's rows change through a mutation or a job (only the named actor's when `name` is given).",
    args: { name: t.arg.string({ description: "Only this actor." }) },
    subscribe: (_root, args, ctx) => {
      if (!ctx.app.jobs) throw new GraphQLError("this server publishes no changes (no job runner)", { extensions: { code: "NOT_CONFIGURED" } });
      const name = args.name ?? null;
      return ctx.app.jobs.actorChanges.subscribe((change) => name === null || change.name === name);
    },
    resolve: (event, _args, ctx) => {
      renewLoaders(ctx);
      return event;
    },
  }),
}));
