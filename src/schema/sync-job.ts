import DataLoader from "dataloader";
import { GraphQLError } from "graphql";
import { actorByName, BadFilterError } from "../db/actor-queries.ts";
import {
  countJobs,
  jobActorsByJobIds,
  jobById,
  jobsByIds,
  jobSummariesByIds,
  pageJobs,
  type JobActorState,
  type JobSummaryRow,
} from "../db/job-writes.ts";
import type { JobActorRow, JobRow } from "../db/schema.ts";
import { startAuditJob, startScanJob, startSyncJob, type ActorOutcome, type ActorSelection } from "../sync/jobs/job-work.ts";
import type { ActorChange, JobEvent } from "../sync/jobs/jobs.ts";
import { InvalidFilenameError } from "../sync/files/layout.ts";
import { NotConfiguredError, UnknownActorError } from "../sync/operations/operation-common.ts";
import type { OutOfSyncResolution, SyncDirection } from "../sync/operations/plan.ts";
import { Actor } from "./actor.ts";
import { OutOfSyncResolutionEnum, outcomeFields, PlanTotalsType, StatusCounts, SyncDirectionEnum } from "./actor-outcome.ts";
import { builder, maxPageSize } from "./builder.ts";
import { type GraphQLContext, RequestLoaders, requireActor, requireJobs } from "./context.ts";
import { connectionComplexity, decodeCursor, encodeCursor, pageSize } from "./cursor.ts";
import { notFound, readWithArguments } from "./errors.ts";

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

const JobProgress = builder
  .objectRef<{ actorsDone: number; actorsTotal: number; bytesDone: number; bytesTotal: number; phase?: string | null }>("JobProgress")
  .implement({
    description: "How far a job has come.",
    fields: (t) => ({
      actorsDone: t.exposeInt("actorsDone", { description: "Actors finished." }),
      actorsTotal: t.exposeInt("actorsTotal", { description: "Actors to do." }),
      bytesDone: t.exposeFloat("bytesDone", { description: "Bytes moved (sync) or hashed (audit) so far." }),
      bytesTotal: t.exposeFloat("bytesTotal", { description: "Bytes to move (sync); 0 when not known ahead." }),
      percent: t.float({
        description: "Percent done, by bytes when known, else by actors.",
        resolve: (p) =>
          Math.round((p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.actorsTotal > 0 ? p.actorsDone / p.actorsTotal : 0) * 1000) / 10,
      }),
      phase: t.string({
        nullable: true,
        description: "What the job does now (`audit`, `transfer`, …); only in live events.",
        resolve: (p) => p.phase ?? null,
      }),
    }),
  });

const JobActorOutcome = builder.objectRef<JobActorRow>("JobActorOutcome").implement({
  description: "What a job did to one actor.",
  fields: (t) => ({
    actorName: t.exposeString("actorName", { description: "The actor's name when the job ran." }),
    actor: t.field({
      type: Actor,
      nullable: true,
      description: "The actor now (null if it was removed since).",
      resolve: (row) => row.actorId,
    }),
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

const summaryOf = (ctx: GraphQLContext, job: JobRow) =>
  jobLoader<JobSummaryRow>(ctx, "summary", (ids) => jobSummariesByIds(ctx.app.db, ids)).load(job.id);

export const SyncJob = builder.objectRef<JobRow>("SyncJob").implement({
  description:
    "A long or writing operation (scan, audit, sync, …) run in the background of the server or as a CLI run, kept as history with each actor's outcome.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Job id: pass it to `job(id)` or the `jobProgress(id)` subscription." }),
    kind: t.field({ type: JobKindEnum, description: "What the job does.", resolve: (job) => job.kind as never }),
    state: t.field({ type: JobStateEnum, description: "Running, or how it ended.", resolve: (job) => job.state }),
    dryRun: t.exposeBoolean("dryRun", { description: "True when the job only planned (nothing was changed)." }),
    parameters: t.string({ description: "The options it was started with, as JSON.", resolve: (job) => job.params ?? "null" }),
    progress: t.field({
      type: JobProgress,
      description: "How far it has come (written at a bounded rate while it runs).",
      resolve: (job) => job,
    }),
    startedAt: t.expose("startedAt", { type: "DateTime", description: "When it started." }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true, description: "When it ended; null while running." }),
    error: t.string({
      nullable: true,
      description: "Why the job failed as a whole (per-actor failures are on the actors).",
      resolve: (job) => job.error,
    }),
    actorsSucceeded: t.int({
      description: "Actors done without error.",
      resolve: async (job, _args, ctx) => (await summaryOf(ctx, job)).succeeded,
    }),
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
        return {
          synced: s.synced,
          local_only: s.localOnly,
          s3_only: s.s3Only,
          out_of_sync: s.outOfSync,
          missing: s.missing,
          unchecked: s.unchecked,
        };
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
        return jobLoader<JobActorRow[]>(ctx, `actors:${first}:${state ?? ""}`, (ids) =>
          jobActorsByJobIds(ctx.app.db, ids, { first, state }),
        ).load(job.id);
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
          const after =
            args.after != null ? decodeCursor(args.after, "jobs", ([id]) => (typeof id === "number" ? id : undefined)) : undefined;
          const kind = args.kind ?? undefined;
          const page = pageJobs(ctx.app.db, first, after, kind);
          const edges = page.rows.map((row) => ({ cursor: encodeCursor("jobs", [row.id]), node: row }));
          return {
            edges,
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: after !== undefined,
              startCursor: edges[0]?.cursor ?? null,
              endCursor: edges.at(-1)?.cursor ?? null,
            },
            totalCount: () => countJobs(ctx.app.db, kind),
          };
        }),
    },
    { name: "SyncJobConnection", description: "A page of jobs." },
    { name: "SyncJobEdge", description: "A job and its cursor." },
  ),
}));

export function selectionOf(
  ctx: GraphQLContext,
  actors: readonly string[] | null | undefined,
  all: boolean | null | undefined,
): ActorSelection {
  if (all && actors && actors.length > 0) throw new BadFilterError("actors", "give either actors or all: true, not both");
  if (all) return { all: true };
  if (!actors || actors.length === 0) throw new BadFilterError("actors", "say which actors: a list of names, or all: true");
  return { actorIds: [...new Set(actors.map((name) => requireActor(ctx, name).id))] };
}

const SyncInput = builder.inputType("SyncInput", {
  description: "Which actors to sync and how.",
  fields: (t) => ({
    actors: t.stringList({ description: "Actor names; or set `all`." }),
    all: t.boolean({ defaultValue: false, description: "Every actor." }),
    direction: t.field({ type: SyncDirectionEnum, defaultValue: "both", description: "Which way to copy (default BOTH)." }),
    outOfSync: t.field({
      type: OutOfSyncResolutionEnum,
      defaultValue: "skip",
      description: "Who wins for OUT_OF_SYNC images (default SKIP: leave them).",
    }),
    dryRun: t.boolean({
      defaultValue: false,
      description: "Only plan: the job records what would be uploaded, downloaded, overwritten and deleted, and changes nothing.",
    }),
  }),
});

export const startErrors = [UnknownActorError, InvalidFilenameError, BadFilterError, NotConfiguredError];

builder.mutationFields((t) => ({
  startScan: t.field({
    type: SyncJob,
    description: "Starts a scan job (stat only) of the named actors or of all; follow it with `jobProgress(id)` or `job(id)`.",
    args: {
      actors: t.arg.stringList({ description: "Actor names; or set `all`." }),
      all: t.arg.boolean({ defaultValue: false, description: "Every actor." }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Apply listings that look suspect." }),
    },
    errors: {
      types: startErrors,
      directResult: true,
      union: { name: "StartScanResult", description: "The job started, or why it did not start." },
    },
    resolve: (_root, args, ctx) => {
      const { s3, jobs } = requireJobs(ctx);
      const id = startScanJob({ ...ctx.app, s3, jobs }, selectionOf(ctx, args.actors, args.all), {
        allowSuspect: args.allowSuspect ?? false,
      });
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
        description:
          "List S3 first; by default the S3 side is compared as the last scan, sync or listing audit recorded it (`Actor.s3ListedAt`).",
      }),
    },
    errors: {
      types: startErrors,
      directResult: true,
      union: { name: "StartAuditResult", description: "The job started, or why it did not start." },
    },
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
    errors: {
      types: startErrors,
      directResult: true,
      union: { name: "StartSyncResult", description: "The job started, or why it did not start." },
    },
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

const JobProgressEvent = builder.objectRef<JobEvent>("JobProgressEvent").implement({
  description: "One step of a job's progress; the last event of the stream has `finished: true`.",
  fields: (t) => ({
    jobId: t.id({ description: "The job.", resolve: (e) => e.jobId }),
    state: t.field({ type: JobStateEnum, description: "Running, or how it ended.", resolve: (e) => e.state }),
    finished: t.boolean({ description: "True on the last event: the job has ended.", resolve: (e) => e.state !== "running" }),
    progress: t.field({ type: JobProgress, description: "How far it has come.", resolve: (e) => e.progress }),
    changedActors: t.stringList({ description: "Actors whose rows changed since the previous event.", resolve: (e) => e.changedActors }),
    error: t.string({ nullable: true, description: "Why the job failed, on the last event.", resolve: (e) => e.error }),
    job: t.field({
      type: SyncJob,
      description: "The job as recorded now (per-actor outcomes included).",
      resolve: (e, _args, ctx) => jobsByIds(ctx.app.db, [e.jobId])[0]!,
    }),
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
    description:
      "Streams a change event whenever an actor's rows change through a mutation or a job (only the named actor's when `name` is given).",
    args: { name: t.arg.string({ description: "Only this actor." }) },
    subscribe: (_root, args, ctx) => {
      if (!ctx.app.jobs)
        throw new GraphQLError("this server publishes no changes (no job runner)", { extensions: { code: "NOT_CONFIGURED" } });
      const name = args.name ?? null;
      return ctx.app.jobs.actorChanges.subscribe((change) => name === null || change.name === name);
    },
    resolve: (event, _args, ctx) => {
      renewLoaders(ctx);
      return event;
    },
  }),
}));
