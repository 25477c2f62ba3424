import { validateActorFilter, type ActorFilter } from "../db/actor-queries.ts";
import type { ActorRow, SyncStatus } from "../db/schema.ts";
import {
  actorsBelowGoodCount,
  actorTotals,
  groupActors,
  imageAggregates,
  type ActorGrouping,
  type GroupRow,
  type Totals,
} from "../db/stats-queries.ts";
import { Actor } from "./actor.ts";
import { builder, maxPageSize } from "./builder.ts";
import type { GraphQLContext } from "./context.ts";
import { badUserInput, readWithArguments } from "./errors.ts";
import { ActorFilterInput, humanSize, RatingEnum, SyncStatusEnum, toActorFilter } from "./inputs.ts";
import { statsCost } from "./query-cost.ts";

/** Counts of a set of images (one actor's, or all the actors a filter picks). */
export type ImageStatisticsShape = Omit<Totals, "actorCount" | "fullySyncedActorCount">;

export const ImageStatistics = builder.objectRef<ImageStatisticsShape>("ImageStatistics").implement({
  description: "Counts of a set of training images by sync status and by rating, and their total size.",
  fields: (t) => ({
    totalCount: t.exposeInt("imageCount", { description: "Number of images." }),
    syncedCount: t.exposeInt("syncedCount", { description: "Images with status SYNCED." }),
    localOnlyCount: t.exposeInt("localOnlyCount", { description: "Images with status LOCAL_ONLY." }),
    s3OnlyCount: t.exposeInt("s3OnlyCount", { description: "Images with status S3_ONLY." }),
    outOfSyncCount: t.exposeInt("outOfSyncCount", { description: "Images with status OUT_OF_SYNC." }),
    missingCount: t.exposeInt("missingCount", { description: "Images with status MISSING." }),
    uncheckedCount: t.exposeInt("uncheckedCount", { description: "Images not checked yet (status null)." }),
    goodCount: t.exposeInt("goodCount", { description: "Images rated good." }),
    badCount: t.exposeInt("badCount", { description: "Images rated bad." }),
    unratedCount: t.exposeInt("unratedCount", { description: "Images not rated yet." }),
    totalSizeBytes: t.exposeFloat("totalSizeBytes", { description: "Total size in bytes." }),
    totalSize: t.string({ description: "Total size for people, e.g. `12.3 GB`.", resolve: (s) => humanSize(s.totalSizeBytes) }),
  }),
});

const StatusBytes = builder.objectRef<{ status: SyncStatus | null; imageCount: number; sizeBytes: number }>("StatusBytes").implement({
  description: "Images in one sync status and their bytes (answers \"how many GB are only local?\").",
  fields: (t) => ({
    status: t.field({ type: SyncStatusEnum, nullable: true, description: "The status; null for images not checked yet.", resolve: (r) => r.status }),
    imageCount: t.exposeInt("imageCount", { description: "Number of images." }),
    sizeBytes: t.exposeFloat("sizeBytes", { description: "Their total size in bytes." }),
    size: t.string({ description: "Their total size for people, e.g. `3.4 GB`.", resolve: (r) => humanSize(r.sizeBytes) }),
  }),
});

const RatingCount = builder.objectRef<{ rating: "good" | "bad" | "unrated"; imageCount: number }>("RatingCount").implement({
  description: "Images with one rating.",
  fields: (t) => ({
    rating: t.field({ type: RatingEnum, description: "The rating.", resolve: (r) => r.rating }),
    imageCount: t.exposeInt("imageCount", { description: "Number of images." }),
  }),
});

const ActorGroup = builder.objectRef<GroupRow>("ActorGroup").implement({
  description: "Actors sharing one value of a name part (descriptor, gender or age band), with their images.",
  fields: (t) => ({
    key: t.exposeString("key", { nullable: true, description: "The shared value, e.g. `european`, `female`, `30-39`; null for names without that part." }),
    actorCount: t.exposeInt("actorCount", { description: "Number of actors." }),
    imageCount: t.exposeInt("imageCount", { description: "Their training images." }),
    goodCount: t.exposeInt("goodCount", { description: "Their images rated good." }),
    badCount: t.exposeInt("badCount", { description: "Their images rated bad." }),
    unratedCount: t.exposeInt("unratedCount", { description: "Their images not rated yet." }),
    totalSizeBytes: t.exposeFloat("totalSizeBytes", { description: "Total bytes of their images." }),
  }),
});

const GenerationTypeGroup = builder
  .objectRef<{ type: string; actorCount: number; generationCount: number; imageCount: number; sizeBytes: number }>("GenerationTypeGroup")
  .implement({
    description: "Generations of one type across actors.",
    fields: (t) => ({
      type: t.exposeString("type", { description: "Generation type, e.g. `s3_scan`." }),
      actorCount: t.exposeInt("actorCount", { description: "Actors with at least one generation of this type." }),
      generationCount: t.exposeInt("generationCount", { description: "Number of generations." }),
      imageCount: t.exposeInt("imageCount", { description: "Images recorded as produced by them." }),
      sizeBytes: t.exposeFloat("sizeBytes", { description: "Total bytes of those images." }),
    }),
  });

const ActorsBelowGoodCount = builder
  .objectRef<{ threshold: number; count: number; actors: ActorRow[] }>("ActorsBelowGoodCount")
  .implement({
    description: "Actors that still need good images.",
    fields: (t) => ({
      threshold: t.exposeInt("threshold", { description: "The number of good images asked about." }),
      count: t.exposeInt("count", { description: "How many actors have fewer good images than that." }),
      actors: t.field({ type: [Actor], description: "The first of them, fewest good images first.", resolve: (r) => r.actors }),
    }),
  });

interface StatsShape {
  filter: ActorFilter | undefined;
}

/** Statistics resolve field by field, so a query pays only for the figures it asks for. */
const Stats = builder.objectRef<StatsShape>("Stats");

Stats.implement({
  description: "Figures across all actors (or those a filter picks), from SQLite alone.",
  fields: (t) => ({
    actorCount: t.int({ description: "Number of actors.", resolve: (s, _a, ctx) => totals(ctx, s).actorCount }),
    fullySyncedActorCount: t.int({
      description: "Actors whose every image is synced.",
      resolve: (s, _a, ctx) => totals(ctx, s).fullySyncedActorCount,
    }),
    images: t.field({
      type: ImageStatistics,
      description: "Counts of all their images by status and rating, and total bytes.",
      resolve: (s, _a, ctx) => totals(ctx, s),
    }),
    byStatus: t.field({
      type: [StatusBytes],
      description: "Images and bytes per sync status, largest first.",
      resolve: (s, _a, ctx) => imageAggregates(ctx.app.db, s.filter).byStatus,
    }),
    byRating: t.field({
      type: [RatingCount],
      description: "Images per rating.",
      resolve: (s, _a, ctx) => {
        const all = totals(ctx, s);
        return [
          { rating: "good" as const, imageCount: all.goodCount },
          { rating: "bad" as const, imageCount: all.badCount },
          { rating: "unrated" as const, imageCount: all.unratedCount },
        ];
      },
    }),
    byDescriptor: groupField(t, "descriptor", "Actors grouped by descriptor (e.g. `european`), largest group first."),
    byGender: groupField(t, "gender", "Actors grouped by gender, largest group first."),
    byAgeBand: groupField(t, "ageBand", "Actors grouped by ten-year age band (`30-39`), largest group first."),
    byGenerationType: t.field({
      type: [GenerationTypeGroup],
      description: "Generations and their images per generation type, most images first.",
      resolve: (s, _a, ctx) => imageAggregates(ctx.app.db, s.filter).byGenerationType,
    }),
    actorsBelowGoodCount: t.field({
      type: ActorsBelowGoodCount,
      nullable: true,
      description: "Actors with fewer than `threshold` images rated good: which actors still need good images.",
      args: {
        threshold: t.arg.int({ required: true, description: "Number of good images an actor should have." }),
        first: t.arg.int({ defaultValue: 20, description: `How many of those actors to list (at most ${maxPageSize}).` }),
      },
      complexity: (args) => ({ field: 5, multiplier: Math.min(Math.max(args.first ?? 20, 1), maxPageSize) }),
      resolve: (s, args, ctx) => {
        const first = args.first ?? 20;
        if (first < 0 || first > maxPageSize) throw badUserInput("first", `must be between 0 and ${maxPageSize}`);
        if (args.threshold < 0) throw badUserInput("threshold", "must not be negative");
        return { threshold: args.threshold, ...actorsBelowGoodCount(ctx.app.db, s.filter, args.threshold, first) };
      },
    }),
  }),
});

function groupField(t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypesOf, StatsShape>, grouping: ActorGrouping, description: string) {
  return t.field({ type: [ActorGroup], description, resolve: (s, _a, ctx) => groupActors(ctx.app.db, s.filter, grouping) });
}

type SchemaTypesOf = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

// Several fields of one `stats` selection share the totals row.
const totalsCache = new WeakMap<StatsShape, ReturnType<typeof actorTotals>>();
function totals(ctx: GraphQLContext, stats: StatsShape) {
  let value = totalsCache.get(stats);
  if (!value) totalsCache.set(stats, (value = actorTotals(ctx.app.db, stats.filter)));
  return value;
}

builder.queryField("stats", (t) =>
  t.field({
    type: Stats,
    description: "Figures across actors: totals, counts by status and rating, groupings, and actors below a good-image count.",
    args: { filter: t.arg({ type: ActorFilterInput, description: "Only actors matching this." }) },
    nullable: true,
    complexity: statsCost,
    resolve: (_root, args) =>
      readWithArguments(() => {
        const filter = toActorFilter(args.filter);
        if (filter) validateActorFilter(filter);
        return { filter };
      }),
  }),
);
