import type { ActorRow } from "../db/schema.ts";
import { auditActor } from "../sync/checks/audit.ts";
import { ManifestConflictError } from "../sync/manifests/export.ts";
import { auditOutcome, scanOutcome, syncOutcome, type ActorOutcome } from "../sync/jobs/job-work.ts";
import { InvalidFilenameError } from "../sync/files/layout.ts";
import {
  NotConfiguredError,
  partiallyApplied,
  PartiallyAppliedError,
  S3RefusedError,
  UnknownActorError,
} from "../sync/operations/operation-common.ts";
import type { OutOfSyncResolution, SyncDirection } from "../sync/operations/plan.ts";
import { scanActor } from "../sync/checks/scan.ts";
import { SuspectListingError } from "../sync/checks/suspect-listing.ts";
import { syncActors } from "../sync/operations/sync.ts";
import { Actor } from "./actor.ts";
import { OutOfSyncResolutionEnum, outcomeFields, SyncDirectionEnum } from "./actor-outcome.ts";
import { builder } from "./builder.ts";
import { announce, freshActor, requireActor, requireS3 } from "./context.ts";

// Checks and syncs of one actor, run now and answered inline (the `start…` mutations of sync-job.ts run them as jobs).

const actorErrors = [UnknownActorError, InvalidFilenameError, NotConfiguredError, S3RefusedError, SuspectListingError];

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
    filesHashed: t.int({
      nullable: true,
      description: "For an audit: local files read and hashed.",
      resolve: (p) => p.filesHashed ?? null,
    }),
    filesFromCache: t.int({
      nullable: true,
      description: "For an audit: local MD5s taken from the hash cache (no read).",
      resolve: (p) => p.filesFromCache ?? null,
    }),
    bytesHashed: t.float({
      nullable: true,
      description: "For an audit: bytes of local files read.",
      resolve: (p) => p.bytesHashed ?? null,
    }),
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

builder.mutationFields((t) => ({
  scanActor: t.field({
    type: ActorCheckPayload,
    description:
      "Scans one actor now (stat only: lists its S3 prefix and local folder) and returns what changed with its fresh statistics.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Apply a listing that looks suspect (empty, or most images gone)." }),
    },
    errors: {
      types: actorErrors,
      directResult: true,
      union: { name: "ScanActorResult", description: "What the scan found, or why it did not run." },
    },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const actor = requireActor(ctx, args.name);
      const run = () => scanActor(ctx.app, s3, actor.id, { allowSuspect: args.allowSuspect ?? false });
      const result = await (ctx.app.jobs ? ctx.app.jobs.locks.run(actor.id, run) : run());
      if (result.suspectReasons) throw new SuspectListingError(actor.name, result.suspectReasons);
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
        description:
          "List S3 first; by default the S3 side is compared as the last scan, sync or listing audit recorded it (`Actor.s3ListedAt`).",
      }),
    },
    errors: {
      types: actorErrors,
      directResult: true,
      union: { name: "AuditActorResult", description: "What the audit found, or why it did not run." },
    },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const actor = requireActor(ctx, args.name);
      // The audit takes the actor's lock itself.
      const result = await auditActor(ctx.app, s3, actor.id, {
        allowSuspect: args.allowSuspect ?? false,
        listS3: args.listS3 ?? false,
        locks: ctx.app.jobs?.locks,
      });
      if (!result.ok) {
        const reason = result.error ?? "audit failed";
        throw result.suspectReasons ? new SuspectListingError(actor.name, result.suspectReasons) : new S3RefusedError(actor.name, reason);
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
      outOfSync: t.arg({
        type: OutOfSyncResolutionEnum,
        defaultValue: "skip",
        description: "Who wins for OUT_OF_SYNC images (default SKIP).",
      }),
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
        throw failure?.suspectReasons
          ? new SuspectListingError(actor.name, failure.suspectReasons)
          : new S3RefusedError(actor.name, reason);
      }
      if (failure && !dryRun) throw new S3RefusedError(actor.name, failure.error);
      announce(ctx, actor, "sync");
      const half = partiallyApplied(report.results);
      if (half) throw half;
      const outcome = syncOutcome(
        plan,
        dryRun,
        report.results.find((r) => r.actorId === actor.id),
      );
      return { actor: freshActor(ctx, actor.id), dryRun, outcome, failedSteps: report.failedSteps };
    },
  }),
}));
