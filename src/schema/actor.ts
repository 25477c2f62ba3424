import { actorsByIds, countActors, BadFilterError, pageActors, validateActorFilter, type ActorOrderField } from "../db/actor-queries.ts";
import { imageByFilename, validateImageFilter, type ImageRowWithPosition } from "../db/image-queries.ts";
import type { ActorRow } from "../db/schema.ts";
import { problemsByActor } from "../db/source-problems.ts";
import { assertSafeName } from "../sync/files/layout.ts";
import { builder } from "./builder.ts";
import type { GraphQLContext } from "./context.ts";
import { connectionComplexity, decodeCursor, encodeCursor, pageSize } from "./cursor.ts";
import { actorForRead, readWithArguments } from "./errors.ts";
import { Generation } from "./generation.ts";
import { ManifestProblem } from "./manifest.ts";
import { ActorFilterInput, toActorFilter, toImageFilter, TrainingImageFilterInput } from "./inputs.ts";
import { actorsCost } from "./query-cost.ts";
import { ImageStatistics } from "./stats.ts";
import { TrainingImage } from "./training-image.ts";

/** An actor as loaded from SQLite; loaded by id in batches wherever an image points at its actor. */
export const Actor = builder.loadableObjectRef<ActorRow, number>("Actor", {
  load: async (ids: number[], ctx: GraphQLContext) =>
    actorsByIds(ctx.app.db, ids).map((row, i) => row ?? new Error(`actor ${ids[i]} not found`)),
});

Actor.implement({
  description: "A character with its own LoRA training set: one manifest, many training images.",
  isTypeOf: (value) => typeof value === "object" && value !== null && "characterId" in value && "totalCount" in value,
  fields: (t) => ({
    id: t.exposeID("id", { description: "Database id (stable while the actor exists)." }),
    characterId: t.exposeString("characterId", { nullable: true, description: "Four-digit character id with leading zeros, e.g. `0042`." }),
    name: t.exposeString("name", { description: "Full name, e.g. `0042_east_asian_30_male`." }),
    descriptor: t.exposeString("descriptor", {
      nullable: true,
      description: "Descriptor part of the name (may contain underscores); null when the name has another shape.",
    }),
    age: t.exposeInt("age", { nullable: true, description: "Age part of the name; null when the name has another shape." }),
    gender: t.exposeString("gender", { nullable: true, description: "Gender part of the name; null when the name has another shape." }),
    manifestUpdatedAt: t.expose("manifestUpdatedAt", {
      type: "DateTime",
      nullable: true,
      description: "When the manifest says its training data last changed.",
    }),
    lastCheckedAt: t.expose("lastCheckedAt", {
      type: "DateTime",
      nullable: true,
      description: "When a scan or audit last checked this actor; null if never.",
    }),
    s3ListedAt: t.expose("s3ListedAt", {
      type: "DateTime",
      nullable: true,
      description:
        "When the actor's S3 prefix was last listed (scan, sync, or audit with `listS3`): an audit compares with the S3 side as of then. Null if never.",
    }),
    statistics: t.field({
      type: ImageStatistics,
      description: "Counts of the actor's images by status and rating, and their total size (kept in step with every change).",
      resolve: (actor) => ({ ...actor, imageCount: actor.totalCount }),
    }),
    problems: t.loadableList({
      type: ManifestProblem,
      description:
        "Files about this actor that could not be read, or only in part (file, JSON path, reason): they are left as they are until fixed or rebuilt (`exportManifests(rebuild: true)`). Empty when there are none.",
      load: async (ids: number[], ctx: GraphQLContext) => problemsByActor(ctx.app.db, ids),
      resolve: (actor) => actor.id,
    }),
    generations: t.field({
      type: [Generation],
      description: "Batches that produced the actor's images, oldest first.",
      resolve: (actor, _args, ctx) => ctx.loaders.generationsByActor.load(actor.id),
    }),
    trainingImage: t.field({
      type: TrainingImage,
      nullable: true,
      description: "One training image by filename (case-sensitive); null when the actor has no such image.",
      args: { filename: t.arg.string({ required: true, description: "e.g. `0042_european_30_male_3.jpg`." }) },
      resolve: (actor, args, ctx) =>
        readWithArguments(() => imageByFilename(ctx.app.db, actor.id, assertSafeName(args.filename)), "filename"),
    }),
    trainingImages: t.connection(
      {
        type: TrainingImage,
        nullable: true,
        description:
          "The actor's training images ordered by index, then filename; read from SQLite only. Null (with an error) when an argument is refused.",
        args: { filter: t.arg({ type: TrainingImageFilterInput, description: "Only images matching this." }) },
        complexity: connectionComplexity,
        resolve: (actor, args, ctx) =>
          readWithArguments(async () => {
            const first = pageSize(args);
            const filter = toImageFilter(args.filter);
            if (filter) validateImageFilter(filter);
            const after = args.after != null ? decodeActorImageCursor(args.after) : undefined;
            const page = await ctx.loaders.imagePage(actor, filter, first, after);
            return {
              ...imageConnection(page.rows, page.hasNextPage, after !== undefined),
              totalCount: () => (filter ? ctx.loaders.imageCounts(filter).load(actor.id) : actor.totalCount),
            };
          }),
      },
      { name: "TrainingImageConnection", description: "A page of an actor's training images." },
      { name: "TrainingImageEdge", description: "A training image and its cursor." },
    ),
  }),
});

function decodeActorImageCursor(cursor: string) {
  return decodeCursor(cursor, "actorImages", ([index, filename]) =>
    typeof index === "number" && typeof filename === "string" ? { index, filename } : undefined,
  );
}

function imageConnection(rows: ImageRowWithPosition[], hasNextPage: boolean, hasPreviousPage: boolean) {
  const edges = rows.map((row) => ({ cursor: encodeCursor("actorImages", [row.sortIndex, row.filename]), node: row }));
  return {
    edges,
    pageInfo: { hasNextPage, hasPreviousPage, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
  };
}

const ActorOrderFieldEnum = builder.enumType("ActorOrderField", {
  description: "What to sort actors by; ties are broken by database id, so the order is stable across pages.",
  values: {
    NAME: { value: "name", description: "Actor name." },
    CHARACTER_ID: { value: "characterId", description: "Character id (actors without one first)." },
    IMAGE_COUNT: { value: "totalCount", description: "Number of training images." },
    GOOD_COUNT: { value: "goodCount", description: "Number of images rated good." },
    SIZE: { value: "totalSizeBytes", description: "Total bytes of the training images." },
    LAST_CHECKED: { value: "lastCheckedAt", description: "Time of the last scan or audit (never checked first)." },
  } satisfies Record<string, { value: ActorOrderField; description: string }>,
});

const ActorOrderInput = builder.inputType("ActorOrderInput", {
  description: "Sort order of an actor list.",
  fields: (t) => ({
    field: t.field({ type: ActorOrderFieldEnum, required: true, description: "What to sort by." }),
    descending: t.boolean({ defaultValue: false, description: "Largest (or latest, or last alphabetically) first." }),
  }),
});

type ActorPageRow = ActorRow & { sortValue: string | number };

builder.queryFields((t) => ({
  actor: t.field({
    type: Actor,
    nullable: true,
    description: "One actor by name or by character id (give exactly one); null, with a NOT_FOUND error, when there is none.",
    args: {
      name: t.arg.string({ description: "Full name, e.g. `0042_european_30_male`." }),
      characterId: t.arg.string({ description: "Character id; `42` and `0042` both work." }),
    },
    resolve: (_root, args, ctx) =>
      readWithArguments(() => {
        if ((args.name == null) === (args.characterId == null))
          throw new BadFilterError("name", "give exactly one of name and characterId");
        const row =
          args.name != null
            ? actorForRead(ctx.app.db, { name: args.name }, "name")
            : actorForRead(ctx.app.db, { characterId: args.characterId! }, "characterId");
        // Its images ask for it by id (their URLs need its name): they find it loaded.
        Actor.getDataloader(ctx).prime(row.id, row);
        return row;
      }),
  }),
  actors: t.connection(
    {
      type: Actor,
      nullable: true,
      description: "Actors matching a filter, in a chosen order, a page at a time. Null (with an error) when an argument is refused.",
      args: {
        filter: t.arg({ type: ActorFilterInput, description: "Only actors matching this." }),
        orderBy: t.arg({ type: ActorOrderInput, description: "Sort order (default: by name)." }),
      },
      complexity: actorsCost,
      resolve: (_root, args, ctx) =>
        readWithArguments(() => {
          const first = pageSize(args);
          const filter = toActorFilter(args.filter);
          if (filter) validateActorFilter(filter);
          const order = { field: args.orderBy?.field ?? "name", descending: args.orderBy?.descending ?? false };
          const list = `actors:${order.field}:${order.descending ? "desc" : "asc"}`;
          const after =
            args.after != null
              ? decodeCursor(args.after, list, ([value, id]) =>
                  (typeof value === "string" || typeof value === "number") && typeof id === "number" ? { value, id } : undefined,
                )
              : undefined;
          const page = pageActors(ctx.app.db, filter, order, first, after);
          for (const row of page.rows) Actor.getDataloader(ctx).prime(row.id, row);
          const edges = page.rows.map((row: ActorPageRow) => ({ cursor: encodeCursor(list, [row.sortValue, row.id]), node: row }));
          return {
            edges,
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: after !== undefined,
              startCursor: edges[0]?.cursor ?? null,
              endCursor: edges.at(-1)?.cursor ?? null,
            },
            totalCount: () => countActors(ctx.app.db, filter),
          };
        }),
    },
    { name: "ActorConnection", description: "A page of actors." },
    { name: "ActorEdge", description: "An actor and its cursor." },
  ),
}));
