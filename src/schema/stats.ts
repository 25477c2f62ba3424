import { validateActorFilter } from "../db/actor-queries.ts";
import { whenRead } from "../db/aggregate-reads.ts";
import { imagesByMd5s, validateImageFilter } from "../db/image-queries.ts";
import type { ActorRow, ImageRow, SyncStatus } from "../db/schema.ts";
import {
  actorsBelowGoodCount,
  duplicateGroups,
  duplicateSummary,
  fullySyncedActorCount,
  generationTypes,
  groupFigures,
  totalFigures,
  type DuplicateGroupRow,
  type GenerationTypeRow,
  type GroupFigures,
  type ImageFigures,
  type RatingPart,
  type StatsGrouping,
  type StatsScope,
  type StatusPart,
} from "../db/stats-queries.ts";
import { Actor } from "./actor.ts";
import { builder, maxPageSize } from "./builder.ts";
import { decodeCursor, encodeCursor, pageSize } from "./cursor.ts";
import { badUserInput, readWithArguments } from "./errors.ts";
import { humanSize } from "../human-size.ts";
import { ActorFilterInput, RatingEnum, SyncStatusEnum, toActorFilter, toImageFilter, TrainingImageFilterInput } from "./inputs.ts";
import { imageTableCost, statsCost } from "./query-cost.ts";
import { TrainingImage } from "./training-image.ts";

const statusOrder: [StatusPart, SyncStatus | null][] = [
  ["synced", "synced"],
  ["localOnly", "local_only"],
  ["s3Only", "s3_only"],
  ["outOfSync", "out_of_sync"],
  ["missing", "missing"],
  ["unchecked", null],
];
const ratingOrder: [RatingPart, "good" | "bad" | "unrated"][] = [
  ["good", "good"],
  ["bad", "bad"],
  ["unrated", "unrated"],
];

const StatusBytes = builder.objectRef<{ status: SyncStatus | null; imageCount: number; sizeBytes: number }>("StatusBytes").implement({
  description: 'Images in one sync status and their bytes (answers "how many GB are only local?").',
  fields: (t) => ({
    status: t.field({
      type: SyncStatusEnum,
      nullable: true,
      description: "The status; null for images not checked yet.",
      resolve: (r) => r.status,
    }),
    imageCount: t.exposeInt("imageCount", { description: "Number of images." }),
    sizeBytes: t.exposeFloat("sizeBytes", { description: "Their total size in bytes." }),
    size: t.string({ description: "Their total size for people, e.g. `3.4 GB`.", resolve: (r) => humanSize(r.sizeBytes) }),
  }),
});

const RatingBytes = builder
  .objectRef<{ rating: "good" | "bad" | "unrated"; imageCount: number; sizeBytes: number }>("RatingBytes")
  .implement({
    description: "Images with one rating and their bytes.",
    fields: (t) => ({
      rating: t.field({ type: RatingEnum, description: "The rating.", resolve: (r) => r.rating }),
      imageCount: t.exposeInt("imageCount", { description: "Number of images." }),
      sizeBytes: t.exposeFloat("sizeBytes", { description: "Their total size in bytes." }),
      size: t.string({ description: "Their total size for people, e.g. `3.4 GB`.", resolve: (r) => humanSize(r.sizeBytes) }),
    }),
  });

const statusNames: Record<StatusPart, string> = {
  synced: "SYNCED",
  localOnly: "LOCAL_ONLY",
  s3Only: "S3_ONLY",
  outOfSync: "OUT_OF_SYNC",
  missing: "MISSING",
  unchecked: "not checked yet (status null)",
};

/** Counts and bytes of a set of images by status and by rating: an actor's, everything's, or one group's. */
export const ImageFiguresInterface = builder.interfaceRef<ImageFigures>("ImageFigures").implement({
  description: "Counts and bytes of a set of training images: in total, by sync status and by rating.",
  fields: (t) => ({
    totalCount: t.exposeInt("imageCount", { description: "Number of images." }),
    totalSizeBytes: t.exposeFloat("totalSizeBytes", { description: "Total size in bytes." }),
    totalSize: t.string({ description: "Total size for people, e.g. `12.3 GB`.", resolve: (s) => humanSize(s.totalSizeBytes) }),
    ...Object.fromEntries(
      statusOrder.flatMap(([part]) => [
        [
          `${part}Count`,
          t.exposeInt(`${part}Count`, {
            description: `Images ${part === "unchecked" ? statusNames[part] : `with status ${statusNames[part]}`}.`,
          }),
        ],
        [
          `${part}Bytes`,
          t.exposeFloat(`${part}Bytes`, {
            description: `Bytes of the images ${part === "unchecked" ? statusNames[part] : `with status ${statusNames[part]}`}.`,
          }),
        ],
      ]),
    ),
    ...Object.fromEntries(
      ratingOrder.flatMap(([part]) => [
        [`${part}Count`, t.exposeInt(`${part}Count`, { description: `Images ${part === "unrated" ? "not rated yet" : `rated ${part}`}.` })],
        [
          `${part}Bytes`,
          t.exposeFloat(`${part}Bytes`, { description: `Bytes of the images ${part === "unrated" ? "not rated yet" : `rated ${part}`}.` }),
        ],
      ]),
    ),
    byStatus: t.field({
      type: [StatusBytes],
      description: "Images and bytes per sync status (statuses with no image left out), most images first.",
      resolve: statusRows,
    }),
    byRating: t.field({ type: [RatingBytes], description: "Images and bytes per rating: GOOD, BAD, UNRATED.", resolve: ratingRows }),
  }),
});

export const ImageStatistics = builder.objectRef<ImageFigures>("ImageStatistics").implement({
  description: "Counts and bytes of a set of training images by sync status and by rating (kept in step with every change).",
  interfaces: [ImageFiguresInterface],
});

const StatsGroup = builder.objectRef<GroupFigures>("StatsGroup").implement({
  description:
    "Images sharing one value (a descriptor, gender, age band, generation type or actor), with counts and bytes by status and rating.",
  interfaces: [ImageFiguresInterface],
  fields: (t) => ({
    key: t.exposeString("key", {
      nullable: true,
      description:
        "The shared value, e.g. `european`, `female`, `30-39`, `upload` or an actor's name; null for names without that part, or images without a generation.",
    }),
    actorCount: t.exposeInt("actorCount", { description: "Actors in the group." }),
  }),
});

/** Generation type groups read their counts from the generations table and their statuses and ratings, when asked, from the image rows. */
type GenerationTypeGroupShape = GenerationTypeRow & { figures: () => ImageFigures | Promise<ImageFigures> };

const GenerationTypeGroup = builder.objectRef<GenerationTypeGroupShape>("GenerationTypeGroup").implement({
  description:
    "Generations of one type across actors and the images they produced; `statistics` breaks those images down by status and rating.",
  fields: (t) => ({
    type: t.exposeString("key", { description: "Generation type, e.g. `s3_scan`." }),
    actorCount: t.exposeInt("actorCount", { description: "Actors with at least one generation of this type." }),
    generationCount: t.exposeInt("generationCount", { description: "Number of generations." }),
    imageCount: t.exposeInt("imageCount", { description: "Images recorded as produced by them." }),
    sizeBytes: t.exposeFloat("totalSizeBytes", { description: "Total bytes of those images." }),
    statistics: t.field({
      type: ImageStatistics,
      description: "Those images by status and by rating, with bytes (reads the image rows).",
      complexity: (_args, ctx) => imageTableCost(ctx),
      resolve: (group) => group.figures(),
    }),
  }),
});

const ActorsBelowGoodCount = builder.objectRef<{ threshold: number; count: number; actors: ActorRow[] }>("ActorsBelowGoodCount").implement({
  description: "Actors that still need good images.",
  fields: (t) => ({
    threshold: t.exposeInt("threshold", { description: "The number of good images asked about." }),
    count: t.exposeInt("count", { description: "How many actors have fewer good images than that." }),
    actors: t.field({ type: [Actor], description: "The first of them, fewest good images first.", resolve: (r) => r.actors }),
  }),
});

const DuplicateStatistics = builder
  .objectRef<{
    groupCount: number;
    imageCount: number;
    redundantBytes: number;
    withinActorGroupCount: number;
    acrossActorsGroupCount: number;
  }>("DuplicateStatistics")
  .implement({
    description: "Exact duplicates: images whose content has the same MD5 as another image's.",
    fields: (t) => ({
      groupCount: t.exposeInt("groupCount", { description: "Distinct contents held more than once." }),
      imageCount: t.exposeInt("imageCount", { description: "Images in those groups (every copy counted)." }),
      redundantBytes: t.exposeFloat("redundantBytes", {
        description: "Bytes beyond one copy of each: what removing the duplicates would free.",
      }),
      redundantSize: t.string({ description: "The same for people, e.g. `1.2 GB`.", resolve: (d) => humanSize(d.redundantBytes) }),
      withinActorGroupCount: t.exposeInt("withinActorGroupCount", { description: "Groups whose copies all belong to one actor." }),
      acrossActorsGroupCount: t.exposeInt("acrossActorsGroupCount", { description: "Groups whose copies belong to two actors or more." }),
    }),
  });

/** Statistics resolve field by field, so a query pays only for the figures it asks for. */
const Stats = builder.objectRef<StatsScope>("Stats");

Stats.implement({
  description:
    "Figures across all actors (or those `filter` picks, and of their images those `imageFilter` picks), from SQLite alone. Without `imageFilter` they read the per-actor statistics, not the images.",
  fields: (t) => ({
    actorCount: t.int({
      description: "Number of actors (with `imageFilter`: actors with at least one such image).",
      resolve: (scope, _a, ctx) => whenRead(totalFigures(ctx.app.db, scope), (figures) => figures.actorCount),
    }),
    fullySyncedActorCount: t.int({
      description: "Actors whose every image is synced (over the actors `filter` picks; `imageFilter` does not apply).",
      resolve: (scope, _a, ctx) => fullySyncedActorCount(ctx.app.db, scope.actors),
    }),
    images: t.field({
      type: ImageStatistics,
      description: "Counts and bytes of all the images in scope by status and rating.",
      resolve: (scope, _a, ctx) => totalFigures(ctx.app.db, scope),
    }),
    byStatus: t.field({
      type: [StatusBytes],
      description: "Images and bytes per sync status, most images first (the same as `images { byStatus }`).",
      resolve: (scope, _a, ctx) => whenRead(totalFigures(ctx.app.db, scope), statusRows),
    }),
    byRating: t.field({
      type: [RatingBytes],
      description: "Images and bytes per rating (the same as `images { byRating }`).",
      resolve: (scope, _a, ctx) => whenRead(totalFigures(ctx.app.db, scope), ratingRows),
    }),
    byDescriptor: groupField(t, "descriptor", "Grouped by the descriptor of the actor's name (e.g. `european`), most images first."),
    byGender: groupField(t, "gender", "Grouped by the gender of the actor's name, most images first."),
    byAgeBand: groupField(t, "ageBand", "Grouped by ten-year age band (`30-39`), most images first."),
    byGenerationType: t.field({
      type: [GenerationTypeGroup],
      description: "Generations and their images per generation type, most images first (over the actors `filter` picks).",
      resolve: (scope, _a, ctx) => {
        const figuresOf = (key: string) =>
          whenRead(
            groupFigures(ctx.app.db, scope, "generationType"),
            (groups) => groups.find((group) => group.key === key) ?? emptyGroup(key),
          );
        return generationTypes(ctx.app.db, scope.actors).map((row) => ({ ...row, figures: () => figuresOf(row.key) }));
      },
    }),
    byActor: t.field({
      type: [StatsGroup],
      description: "Grouped by actor (`key` is the name), largest total size first.",
      args: { first: t.arg.int({ defaultValue: 20, description: `How many actors (at most ${maxPageSize}).` }) },
      complexity: (args) => ({ field: 5, multiplier: Math.min(Math.max(args.first ?? 20, 1), maxPageSize) }),
      resolve: (scope, args, ctx) => {
        const first = args.first ?? 20;
        if (first < 0 || first > maxPageSize) throw badUserInput("first", `must be between 0 and ${maxPageSize}`);
        return groupFigures(ctx.app.db, scope, "actor", first);
      },
    }),
    actorsBelowGoodCount: t.field({
      type: ActorsBelowGoodCount,
      nullable: true,
      description:
        "Actors with fewer than `threshold` images rated good: which actors still need good images (over the actors `filter` picks).",
      args: {
        threshold: t.arg.int({ required: true, description: "Number of good images an actor should have." }),
        first: t.arg.int({ defaultValue: 20, description: `How many of those actors to list (at most ${maxPageSize}).` }),
      },
      complexity: (args) => ({ field: 5, multiplier: Math.min(Math.max(args.first ?? 20, 1), maxPageSize) }),
      resolve: (scope, args, ctx) => {
        const first = args.first ?? 20;
        if (first < 0 || first > maxPageSize) throw badUserInput("first", `must be between 0 and ${maxPageSize}`);
        if (args.threshold < 0) throw badUserInput("threshold", "must not be negative");
        return { threshold: args.threshold, ...actorsBelowGoodCount(ctx.app.db, scope.actors, args.threshold, first) };
      },
    }),
    duplicates: t.field({
      type: DuplicateStatistics,
      description: "Exact duplicates (same MD5) among the images in scope, within and across actors (reads the image rows).",
      complexity: (_args, ctx) => imageTableCost(ctx),
      resolve: (scope, _a, ctx) => duplicateSummary(ctx.app.db, scope),
    }),
  }),
});

type SchemaTypesOf = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

function groupField(t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypesOf, StatsScope>, grouping: StatsGrouping, description: string) {
  return t.field({
    type: [StatsGroup],
    description: `${description} Each group has counts and bytes by status and rating.`,
    resolve: (scope, _a, ctx) => groupFigures(ctx.app.db, scope, grouping),
  });
}

function statusRows(figures: ImageFigures) {
  return statusOrder
    .map(([part, status]) => ({ status, imageCount: figures[`${part}Count`], sizeBytes: figures[`${part}Bytes`] }))
    .filter((row) => row.imageCount > 0)
    .sort((a, b) => b.imageCount - a.imageCount);
}

function ratingRows(figures: ImageFigures) {
  return ratingOrder.map(([part, rating]) => ({ rating, imageCount: figures[`${part}Count`], sizeBytes: figures[`${part}Bytes`] }));
}

function emptyGroup(key: string | null): GroupFigures {
  return { ...totalFiguresOfNothing, key };
}

const totalFiguresOfNothing: GroupFigures = {
  key: null,
  actorCount: 0,
  imageCount: 0,
  totalSizeBytes: 0,
  ...(Object.fromEntries(
    [...statusOrder, ...ratingOrder].flatMap(([part]) => [
      [`${part}Count`, 0],
      [`${part}Bytes`, 0],
    ]),
  ) as Omit<ImageFigures, "imageCount" | "totalSizeBytes">),
};

function statsScope(args: { filter?: Parameters<typeof toActorFilter>[0]; imageFilter?: Parameters<typeof toImageFilter>[0] }): StatsScope {
  const actors = toActorFilter(args.filter);
  const images = toImageFilter(args.imageFilter);
  if (actors) validateActorFilter(actors);
  if (images) validateImageFilter(images, "imageFilter");
  return {
    ...(actors && Object.keys(actors).length > 0 ? { actors } : {}),
    ...(images && Object.keys(images).length > 0 ? { images } : {}),
  };
}

const scopeDescriptions = {
  filter: "Only actors matching this.",
  imageFilter: "Of their images, only those matching this, e.g. `{ status: [LOCAL_ONLY] }` (reads the image rows).",
};

const DuplicateGroup = builder.objectRef<DuplicateGroupRow & { images: ImageRow[] }>("DuplicateGroup").implement({
  description: "Images with the same content (the same MD5): exact duplicates.",
  fields: (t) => ({
    md5: t.exposeString("md5", { description: "The shared MD5." }),
    imageCount: t.exposeInt("imageCount", { description: "Copies." }),
    actorCount: t.exposeInt("actorCount", { description: "Actors holding a copy (1: duplicates within one actor)." }),
    totalSizeBytes: t.exposeFloat("totalSizeBytes", { description: "Bytes of all copies." }),
    images: t.field({ type: [TrainingImage], description: "The copies, by actor then filename.", resolve: (group) => group.images }),
  }),
});

builder.queryFields((t) => ({
  stats: t.field({
    type: Stats,
    nullable: true,
    description:
      "Figures across actors: totals, counts and bytes by status and rating, groupings (each with counts and bytes by status and rating), actors below a good-image count, exact duplicates.",
    args: {
      filter: t.arg({ type: ActorFilterInput, description: scopeDescriptions.filter }),
      imageFilter: t.arg({ type: TrainingImageFilterInput, description: scopeDescriptions.imageFilter }),
    },
    complexity: (args, ctx) => statsCost(args, ctx),
    resolve: (_root, args) => readWithArguments(() => statsScope(args)),
  }),
  duplicateImages: t.connection(
    {
      type: DuplicateGroup,
      nullable: true,
      description: "Exact duplicates (images with the same MD5) among the images in scope, most copies first. Reads the image rows.",
      args: {
        filter: t.arg({ type: ActorFilterInput, description: scopeDescriptions.filter }),
        imageFilter: t.arg({ type: TrainingImageFilterInput, description: scopeDescriptions.imageFilter }),
        acrossActors: t.arg.boolean({ description: "true: only groups spanning two actors or more; false: only groups within one actor." }),
      },
      complexity: (args, ctx) => ({ field: imageTableCost(ctx), multiplier: Math.max(1, Math.min(args.first ?? 50, maxPageSize)) }),
      resolve: (_root, args, ctx) =>
        readWithArguments(async () => {
          const scope = statsScope(args);
          const first = pageSize(args);
          const after =
            args.after != null
              ? decodeCursor(args.after, "duplicates", ([imageCount, md5]) =>
                  typeof imageCount === "number" && typeof md5 === "string" ? { imageCount, md5 } : undefined,
                )
              : undefined;
          const page = await duplicateGroups(ctx.app.db, scope, { acrossActors: args.acrossActors ?? undefined, first, after });
          const copies = await imagesByMd5s(
            ctx.app.db,
            page.rows.map((row) => row.md5),
            scope.images,
            scope.actors,
          );
          const edges = page.rows.map((row) => ({
            cursor: encodeCursor("duplicates", [row.imageCount, row.md5]),
            node: { ...row, images: copies.filter((image) => image.md5 === row.md5) },
          }));
          return {
            edges,
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: after !== undefined,
              startCursor: edges[0]?.cursor ?? null,
              endCursor: edges.at(-1)?.cursor ?? null,
            },
            totalCount: () => page.count,
          };
        }),
    },
    { name: "DuplicateGroupConnection", description: "A page of duplicate groups." },
    { name: "DuplicateGroupEdge", description: "A duplicate group and its cursor." },
  ),
}));
