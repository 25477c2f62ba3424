import { validateActorFilter } from "../db/actor-queries.ts";
import { pageImages, validateImageFilter } from "../db/image-queries.ts";
import { jobById } from "../db/job-writes.ts";
import type { ActorRow } from "../db/schema.ts";
import { addImages } from "../sync/operations/add-images.ts";
import { deleteImages } from "../sync/operations/delete-images.ts";
import { defaultMaxDelete, type DeleteFrom } from "../sync/operations/deletion-limits.ts";
import { ManifestConflictError } from "../sync/manifests/export.ts";
import { startPruneLocalJob, syncOutcome, type ActorOutcome } from "../sync/jobs/job-work.ts";
import { migrateLegacy, type ActorMigration } from "../sync/manifests/migrate-legacy.ts";
import { assertPrunable, StorageModeError } from "../sync/operations/prune-local.ts";
import { BadFilterError } from "../db/actor-queries.ts";
import { InvalidFilenameError } from "../sync/files/layout.ts";
import {
  ImageExistsError,
  MaxDeleteExceededError,
  NotAnImageError,
  NotConfiguredError,
  partiallyApplied,
  PartiallyAppliedError,
  S3RefusedError,
  UnknownActorError,
  UnknownImageError,
  type OperationReport,
} from "../sync/operations/operation-common.ts";
import { rateImages } from "../sync/operations/rate-images.ts";
import { Actor } from "./actor.ts";
import { builder } from "./builder.ts";
import { announce, freshActor, type GraphQLContext, requireActor, requireJobs, requireS3 } from "./context.ts";
import { ActorFilterInput, RatingEnum, toActorFilter, toImageFilter, TrainingImageFilterInput } from "./inputs.ts";
import { UploadedFile } from "../uploads.ts";
import { outcomeFields } from "./actor-outcome.ts";
import { selectionOf, startErrors, SyncJob } from "./sync-job.ts";

interface OperationPayload {
  actor: ActorRow;
  dryRun: boolean;
  failedSteps: number;
  outcome: ActorOutcome;
  generation?: { key: number; type: string; imageCount: number } | null;
}

const OperationPayload = builder.objectRef<OperationPayload>("ImageOperationPayload").implement({
  description: "The plan of an operation on one actor's images and, unless a dry run, what became of each step.",
  fields: (t) => ({
    actor: t.field({ type: Actor, description: "The actor after the operation (fresh statistics).", resolve: (p) => p.actor }),
    dryRun: t.exposeBoolean("dryRun", { description: "True when nothing was changed (plan only)." }),
    failedSteps: t.exposeInt("failedSteps", { description: "Steps that failed (each with its error in `steps`)." }),
    generationKey: t.int({
      nullable: true,
      description: "For addImages: the generation the new images belong to.",
      resolve: (p) => p.generation?.key ?? null,
    }),
    ...outcomeFields<OperationPayload>(t, (p) => p.outcome),
  }),
});

const ActorMigrationType = builder.objectRef<ActorMigration>("LegacyMigration").implement({
  description: "What migrating one actor's legacy response.json did (or would do).",
  fields: (t) => ({
    actorName: t.exposeString("name", { description: "The actor." }),
    responsePath: t.exposeString("responsePath", { description: "The response.json file." }),
    added: t.exposeStringList("added", { description: "Images the manifests gain from it." }),
    listed: t.exposeStringList("listed", { description: "Every image it lists." }),
    backupPath: t.string({
      nullable: true,
      description: "Where response.json was moved (null on a dry run or a failure).",
      resolve: (m) => m.backupPath,
    }),
    manifestsWritten: t.exposeStringList("manifestsWritten", { description: "Manifest files written." }),
    error: t.string({ nullable: true, description: "Why it failed (the file stays).", resolve: (m) => m.error ?? null }),
  }),
});

const MigrateLegacyPayload = builder
  .objectRef<{ dryRun: boolean; actors: ActorMigration[]; failed: number }>("MigrateLegacyPayload")
  .implement({
    description: "What migrating legacy response.json files did (or would do).",
    fields: (t) => ({
      dryRun: t.exposeBoolean("dryRun", { description: "True when nothing was changed." }),
      failed: t.exposeInt("failed", { description: "Actors whose migration failed." }),
      actors: t.field({ type: [ActorMigrationType], description: "One entry per actor with a response.json.", resolve: (p) => p.actors }),
    }),
  });

const DeleteFromEnum = builder.enumType("DeleteFrom", {
  description: "Where an image is deleted from. The manifest always stops listing it.",
  values: {
    MANIFEST: { value: "manifest", description: "Only forget it (files and objects stay)." },
    S3: { value: "s3", description: "Also delete its S3 object." },
    DISK: { value: "disk", description: "Also delete its local file." },
    EVERYWHERE: { value: "everywhere", description: "Also delete its S3 object and its local file." },
  } as const,
});

const NewImageInput = builder.inputType("NewImageInput", {
  description: "One image to add, sent as a file in a multipart request.",
  fields: (t) => ({
    file: t.field({ type: "File", required: true, description: "The image bytes." }),
    filename: t.string({
      description: "Filename to store it under (default: the uploaded file's name), e.g. `0042_european_30_male_7.jpg`.",
    }),
    prompt: t.string({ description: "The prompt that generated it." }),
  }),
});

/** The payload of a complete operation; a PartiallyAppliedError when a manifest could not be written after its steps. */
function payloadOf(ctx: GraphQLContext, actor: ActorRow, report: OperationReport): OperationPayload {
  const plan = report.plans[0] ?? { actorId: actor.id, name: actor.name, steps: [], skipped: [] };
  if (!report.dryRun) announce(ctx, actor, "operation");
  const half = partiallyApplied(report.results);
  if (half) throw half;
  return {
    actor: freshActor(ctx, actor.id),
    dryRun: report.dryRun,
    failedSteps: report.failedSteps,
    outcome: syncOutcome(plan, report.dryRun, report.results[0]),
  };
}

const imageErrors = [
  UnknownActorError,
  InvalidFilenameError,
  UnknownImageError,
  NotAnImageError,
  ManifestConflictError,
  PartiallyAppliedError,
];

function ratingValue(rating: string): boolean | null {
  return rating === "good" ? true : rating === "bad" ? false : null;
}

builder.mutationFields((t) => ({
  rateImages: t.field({
    type: OperationPayload,
    description: "Rates images good, bad or unrated: rows and statistics, prompt_metadata.json and the manifests. Touches no S3 object.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      filenames: t.arg.stringList({ required: true, description: "The images to rate." }),
      rating: t.arg({ type: RatingEnum, required: true, description: "GOOD, BAD or UNRATED." }),
    },
    errors: {
      types: imageErrors,
      directResult: true,
      union: { name: "RateImagesResult", description: "The ratings written, or why not." },
    },
    resolve: async (_root, args, ctx) => {
      const actor = requireActor(ctx, args.name);
      const report = await rateImages(ctx.app, {
        actor: actor.id,
        filenames: args.filenames,
        good: ratingValue(args.rating),
        locks: ctx.app.jobs?.locks,
        s3: ctx.app.s3 ?? null,
      });
      return payloadOf(ctx, actor, report);
    },
  }),
  rateImage: t.field({
    type: OperationPayload,
    description: "Rates one image (as `rateImages` with one filename).",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      filename: t.arg.string({ required: true, description: "The image." }),
      rating: t.arg({ type: RatingEnum, required: true, description: "GOOD, BAD or UNRATED." }),
    },
    errors: { types: imageErrors, directResult: true, union: { name: "RateImageResult", description: "The rating written, or why not." } },
    resolve: async (_root, args, ctx) => {
      const actor = requireActor(ctx, args.name);
      const report = await rateImages(ctx.app, {
        actor: actor.id,
        filenames: [args.filename],
        good: ratingValue(args.rating),
        locks: ctx.app.jobs?.locks,
        s3: ctx.app.s3 ?? null,
      });
      return payloadOf(ctx, actor, report);
    },
  }),
  deleteImages: t.field({
    type: OperationPayload,
    description:
      "Deletes images of an actor (all of them when `filenames` is left out) from the manifest, and as asked from S3 and disk. Refused over `maxDelete`.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      filenames: t.arg.stringList({ description: "The images; leave out to delete every image of the actor." }),
      from: t.arg({ type: DeleteFromEnum, required: true, description: "Where to delete from." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only return the plan; change nothing." }),
      maxDelete: t.arg.int({
        defaultValue: defaultMaxDelete,
        description: `Refuse when more images would be deleted (default ${defaultMaxDelete}).`,
      }),
    },
    errors: {
      types: [...imageErrors, MaxDeleteExceededError, NotConfiguredError, S3RefusedError],
      directResult: true,
      union: { name: "DeleteImagesResult", description: "The deletion (or its plan), or why it was refused." },
    },
    resolve: async (_root, args, ctx) => {
      const actor = requireActor(ctx, args.name);
      const from = args.from as DeleteFrom;
      if ((from === "s3" || from === "everywhere") && !ctx.app.s3) throw new NotConfiguredError("S3 connection");
      const report = await deleteImages(ctx.app, ctx.app.s3 ?? null, {
        actor: actor.id,
        filenames: args.filenames ?? undefined,
        from,
        dryRun: args.dryRun ?? false,
        maxDelete: args.maxDelete ?? defaultMaxDelete,
        locks: ctx.app.jobs?.locks,
      });
      return payloadOf(ctx, actor, report);
    },
  }),
  deleteImage: t.field({
    type: OperationPayload,
    description: "Deletes one image (as `deleteImages` with one filename).",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      filename: t.arg.string({ required: true, description: "The image." }),
      from: t.arg({ type: DeleteFromEnum, required: true, description: "Where to delete from." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only return the plan; change nothing." }),
    },
    errors: {
      types: [...imageErrors, NotConfiguredError, S3RefusedError],
      directResult: true,
      union: { name: "DeleteImageResult", description: "The deletion (or its plan), or why it was refused." },
    },
    resolve: async (_root, args, ctx) => {
      const actor = requireActor(ctx, args.name);
      const from = args.from as DeleteFrom;
      if ((from === "s3" || from === "everywhere") && !ctx.app.s3) throw new NotConfiguredError("S3 connection");
      const report = await deleteImages(ctx.app, ctx.app.s3 ?? null, {
        actor: actor.id,
        filenames: [args.filename],
        from,
        dryRun: args.dryRun ?? false,
        locks: ctx.app.jobs?.locks,
      });
      return payloadOf(ctx, actor, report);
    },
  }),
  addImages: t.field({
    type: OperationPayload,
    description:
      "Adds images to an actor from files sent in a multipart request (GraphQL multipart request spec): each is uploaded to S3 verified, put in the actor's folder (mirrored mode) and recorded under a new generation with its prompt.",
    args: {
      name: t.arg.string({ required: true, description: "Actor name." }),
      images: t.arg({ type: [NewImageInput], required: true, description: "The images." }),
      generationType: t.arg.string({
        defaultValue: "upload",
        description: "Type of the generation the batch is recorded under (default `upload`).",
      }),
      overwrite: t.arg.boolean({ defaultValue: false, description: "Replace images the actor already has." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only return the plan; change nothing." }),
    },
    errors: {
      types: [...imageErrors, ImageExistsError, NotConfiguredError, S3RefusedError, BadFilterError],
      directResult: true,
      union: { name: "AddImagesResult", description: "The images added (or the plan), or why not." },
    },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const actor = requireActor(ctx, args.name);
      if (args.images.length === 0) throw new BadFilterError("images", "give at least one image");
      const images = await Promise.all(
        args.images.map(async (image) => ({
          filename: image.filename ?? image.file.name,
          // A file the server staged on disk is read from there, never into memory.
          ...(image.file instanceof UploadedFile ? { path: image.file.path } : { bytes: new Uint8Array(await image.file.arrayBuffer()) }),
          prompt: image.prompt ?? null,
        })),
      );
      const report = await addImages(ctx.app, s3, {
        actor: actor.id,
        images,
        generationType: args.generationType ?? "upload",
        overwrite: args.overwrite ?? false,
        dryRun: args.dryRun ?? false,
        locks: ctx.app.jobs?.locks,
      });
      return { ...payloadOf(ctx, actor, report), generation: report.generation };
    },
  }),
  migrateLegacy: t.field({
    type: MigrateLegacyPayload,
    description:
      "Migrates legacy response.json files into the manifests (then moves each aside as a backup). Leave out `actors` for every actor that has one.",
    args: {
      actors: t.arg.stringList({ description: "Actor names (default: every actor with a response.json)." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only list what the manifests would gain." }),
    },
    errors: {
      types: [UnknownActorError, InvalidFilenameError, ManifestConflictError],
      directResult: true,
      union: { name: "MigrateLegacyResult", description: "What was migrated, or why not." },
    },
    resolve: async (_root, args, ctx) => {
      const actors = args.actors?.map((name) => requireActor(ctx, name));
      const report = await migrateLegacy(ctx.app, {
        actorIds: actors?.map((actor) => actor.id),
        dryRun: args.dryRun ?? false,
        locks: ctx.app.jobs?.locks,
      });
      if (!report.dryRun)
        for (const migration of report.actors.filter((m) => !m.error))
          ctx.app.jobs?.actorChanged({ actorId: null, name: migration.name, reason: "migrate_legacy", jobId: null });
      return report;
    },
  }),
  startPruneLocal: t.field({
    type: SyncJob,
    description:
      "Starts a job that deletes local copies S3 verifiably holds (conversion to s3-only mode): audits, then deletes only SYNCED files, each re-checked first. Each actor's outcome lists what was deleted and what was kept, and why.",
    args: {
      actors: t.arg.stringList({ description: "Actor names; or set `all`." }),
      all: t.arg.boolean({ defaultValue: false, description: "Every actor." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only plan: list what would be deleted and kept." }),
      maxDelete: t.arg.int({
        defaultValue: defaultMaxDelete,
        description: `The job fails, deleting nothing, when more local files would be deleted (default ${defaultMaxDelete}).`,
      }),
      allowSuspect: t.arg.boolean({ defaultValue: false, description: "Audit even where a listing looks suspect." }),
      switchToS3Only: t.arg.boolean({
        defaultValue: false,
        description:
          "Record the data directory as s3-only first (required unless it is already): its syncs then never download what was pruned.",
      }),
    },
    errors: {
      types: [...startErrors, StorageModeError],
      directResult: true,
      union: { name: "StartPruneLocalResult", description: "The job started, or why it did not start." },
    },
    resolve: (_root, args, ctx) => {
      const { s3, jobs } = requireJobs(ctx);
      assertPrunable(ctx.app, args.switchToS3Only ?? false);
      const id = startPruneLocalJob({ ...ctx.app, s3, jobs }, selectionOf(ctx, args.actors, args.all), {
        dryRun: args.dryRun ?? false,
        maxDelete: args.maxDelete ?? defaultMaxDelete,
        allowSuspect: args.allowSuspect ?? false,
        switchToS3Only: args.switchToS3Only ?? false,
      });
      return jobById(ctx.app.db, id)!;
    },
  }),
}));

const RateSelectionPayload = builder
  .objectRef<{ rating: "good" | "bad" | "unrated"; imageCount: number; actors: ActorRow[]; failedSteps: number }>("RateSelectionPayload")
  .implement({
    description: "What rating a selection of images did: one write per touched file, actor by actor.",
    fields: (t) => ({
      rating: t.field({ type: RatingEnum, description: "The rating given.", resolve: (p) => p.rating }),
      imageCount: t.exposeInt("imageCount", { description: "Images rated." }),
      failedSteps: t.exposeInt("failedSteps", { description: "Ratings that could not be written (their actors' manifests say which)." }),
      actors: t.field({
        type: [Actor],
        description: "The actors whose images were rated, with fresh statistics.",
        resolve: (p) => p.actors,
      }),
    }),
  });

/** More than this many images in one `rateSelection` is more likely a missing filter than a choice. */
const defaultMaxRated = 1_000;

builder.mutationFields((t) => ({
  rateSelection: t.field({
    type: RateSelectionPayload,
    description:
      "Rates every image a selection picks, across actors: by filter (e.g. `{ duplicate: true }`), by filenames, or both. Each touched actor's rows, prompt_metadata.json and manifests are written once.",
    args: {
      filter: t.arg({
        type: TrainingImageFilterInput,
        description: "The images to rate, e.g. `{ filenames: [...] }` or `{ status: [MISSING] }`.",
      }),
      actorFilter: t.arg({
        type: ActorFilterInput,
        description: 'Only images of actors matching this, e.g. `{ name: "0042_european_30_male" }`.',
      }),
      rating: t.arg({ type: RatingEnum, required: true, description: "GOOD, BAD or UNRATED." }),
      maxImages: t.arg.int({
        defaultValue: defaultMaxRated,
        description: `Refuse when the selection holds more images (default ${defaultMaxRated}).`,
      }),
    },
    errors: {
      types: [BadFilterError, InvalidFilenameError, NotAnImageError, ManifestConflictError, PartiallyAppliedError],
      directResult: true,
      union: { name: "RateSelectionResult", description: "The ratings written, or why not." },
    },
    resolve: async (_root, args, ctx) => {
      const filter = toImageFilter(args.filter);
      const actorFilter = toActorFilter(args.actorFilter);
      if (!filter && !actorFilter) throw new BadFilterError("filter", "say which images to rate: a filter, an actorFilter, or both");
      if (filter) validateImageFilter(filter);
      if (actorFilter) validateActorFilter(actorFilter, "actorFilter");
      const maxImages = args.maxImages ?? defaultMaxRated;
      const selected = await pageImages(ctx.app.db, filter, actorFilter, maxImages);
      if (selected.hasNextPage)
        throw new BadFilterError("maxImages", `the selection holds more than ${maxImages} images; narrow it or raise maxImages`);
      const byActor = new Map<number, string[]>();
      for (const row of selected.rows) byActor.set(row.actorId, [...(byActor.get(row.actorId) ?? []), row.filename]);
      const good = ratingValue(args.rating);
      let failedSteps = 0;
      const actors: ActorRow[] = [];
      const results: OperationReport["results"] = [];
      for (const [actorId, filenames] of byActor) {
        const report = await rateImages(ctx.app, { actor: actorId, filenames, good, locks: ctx.app.jobs?.locks, s3: ctx.app.s3 ?? null });
        failedSteps += report.failedSteps;
        results.push(...report.results);
        const actor = freshActor(ctx, actorId);
        announce(ctx, actor, "operation");
        actors.push(actor);
      }
      // Every actor is rated before this says which of them have manifests still to write.
      const half = partiallyApplied(results);
      if (half) throw half;
      return { rating: args.rating, imageCount: selected.rows.length, actors, failedSteps };
    },
  }),
}));
