import { countImages, pageImages, validateImageFilter } from "../db/image-queries.ts";
import { validateActorFilter } from "../db/actor-queries.ts";
import type { ActorRow, ImageRow } from "../db/schema.ts";
import { imageViewPath } from "../image-route.ts";
import { objectUrlOf, s3KeyOf } from "../sync/files/layout.ts";
import { Actor } from "./actor.ts";
import { builder } from "./builder.ts";
import type { GraphQLContext } from "./context.ts";
import { decodeCursor, encodeCursor, pageSize } from "./cursor.ts";
import { readWithArguments } from "./errors.ts";
import { Generation } from "./generation.ts";
import { ActorFilterInput, SyncStatusEnum, toActorFilter, toImageFilter, TrainingImageFilterInput } from "./inputs.ts";
import { imagesCost } from "./query-cost.ts";

const previewLength = 120;

export const TrainingImage = builder.objectRef<ImageRow>("TrainingImage");

TrainingImage.implement({
  description: "One training image file `{name}_{index}.{jpg|jpeg|png}` of an actor, as last recorded (no disk or S3 access).",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Database id." }),
    filename: t.exposeString("filename", { description: "File name; the image's identity within its actor (case-sensitive)." }),
    index: t.exposeInt("index", {
      nullable: true,
      description: "The `{index}` of `{name}_{index}.jpg`; null when the filename has another shape.",
    }),
    s3Key: t.exposeString("s3Key", { nullable: true, description: "Key of the S3 object." }),
    s3Url: t.string({
      nullable: true,
      description: "URL of the S3 object at the configured endpoint (path-style on a custom S3_ENDPOINT, the amazonaws.com URL on AWS).",
      resolve: (image, _args, ctx) => {
        const { s3 } = ctx.app.config;
        if (image.s3Key != null) return objectUrlOf(s3, image.s3Key);
        return whenActorKnown(image, ctx, (actor) => objectUrlOf(s3, s3KeyOf(s3, actor.name, image.filename)));
      },
    }),
    viewUrl: t.string({
      description:
        "Where this service serves the image's bytes (`/images/{actorName}/{filename}`, relative to the service): the local file, or the S3 object when there is no local copy. Off loopback it needs the API token.",
      resolve: (image, _args, ctx) => whenActorKnown(image, ctx, (actor) => imageViewPath(actor.name, image.filename)),
    }),
    localPath: t.exposeString("localPath", {
      nullable: true,
      description: "Path of the local file as the manifest records it (relative to the studio root).",
    }),
    md5: t.exposeString("md5", { nullable: true, description: "MD5 of the content as last known (from a manifest or an audit)." }),
    etag: t.exposeString("s3Etag", {
      nullable: true,
      description: "ETag of the S3 object at the last scan (a multipart ETag ends in `-N`).",
    }),
    sizeBytes: t.exposeFloat("sizeBytes", { nullable: true, description: "Size in bytes." }),
    modifiedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "Last modification time as recorded (from the manifest's timestamp when it has one).",
      resolve: (image) => (image.modifiedTimestamp != null ? new Date(image.modifiedTimestamp * 1000) : image.modifiedAt),
    }),
    prompt: t.exposeString("prompt", { nullable: true, description: "Prompt that generated the image, if known." }),
    promptPreview: t.string({
      nullable: true,
      description: `The manifest's prompt preview, or the first ${previewLength} characters of the prompt.`,
      resolve: (image) => image.promptPreview ?? (image.prompt ? truncate(image.prompt, previewLength) : null),
    }),
    generatedAt: t.expose("generatedAt", { type: "DateTime", nullable: true, description: "When the image was generated, if known." }),
    generation: t.field({
      type: Generation,
      nullable: true,
      description: "The batch that produced the image, if known.",
      resolve: (image, _args, ctx) =>
        image.generationId == null ? null : (ctx.loaders.knownGeneration(image.generationId) ?? image.generationId),
    }),
    source: t.exposeString("source", { nullable: true, description: "Where the image came from, as the manifest says." }),
    status: t.field({
      type: SyncStatusEnum,
      nullable: true,
      description: "Sync status as of `checkedAt`; null when the image has not been checked yet.",
      resolve: (image) => image.status,
    }),
    good: t.exposeBoolean("good", { nullable: true, description: "Rating: true good, false bad, null not rated yet." }),
    checkedAt: t.expose("checkedAt", {
      type: "DateTime",
      nullable: true,
      description: "When a scan or audit last set the status; null if never.",
    }),
    orphan: t.exposeBoolean("orphan", { description: "Found in the actor's folder or S3 prefix without being listed in any manifest." }),
    actor: t.field({
      type: Actor,
      description: "The actor the image belongs to.",
      resolve: (image, _args, ctx) => ctx.loaders.pagedActor(image.actorId) ?? image.actorId,
    }),
  }),
});

/** `use` of the image's actor: at once when the request paged it (see `RequestLoaders.pagedActor`), else once loaded. */
function whenActorKnown<T>(image: ImageRow, ctx: GraphQLContext, use: (actor: ActorRow) => T): T | Promise<T> {
  const paged = ctx.loaders.pagedActor(image.actorId);
  return paged ? use(paged) : Actor.getDataloader(ctx).load(image.actorId).then(use);
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

builder.queryFields((t) => ({
  images: t.connection(
    {
      type: TrainingImage,
      nullable: true,
      description:
        "Training images across all actors (or those an actor filter picks), in the order they were recorded. Null (with an error) when an argument is refused.",
      args: {
        filter: t.arg({ type: TrainingImageFilterInput, description: "Only images matching this." }),
        actorFilter: t.arg({ type: ActorFilterInput, description: "Only images of actors matching this." }),
      },
      complexity: imagesCost,
      resolve: (_root, args, ctx) =>
        readWithArguments(async () => {
          const first = pageSize(args);
          const filter = toImageFilter(args.filter);
          const actorFilter = toActorFilter(args.actorFilter);
          if (filter) validateImageFilter(filter);
          if (actorFilter) validateActorFilter(actorFilter, "actorFilter");
          const afterId =
            args.after != null ? decodeCursor(args.after, "images", ([id]) => (typeof id === "number" ? id : undefined)) : undefined;
          const page = await pageImages(ctx.app.db, filter, actorFilter, first, afterId);
          const edges = page.rows.map((row) => ({ cursor: encodeCursor("images", [row.id]), node: row }));
          return {
            edges,
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: afterId !== undefined,
              startCursor: edges[0]?.cursor ?? null,
              endCursor: edges.at(-1)?.cursor ?? null,
            },
            totalCount: () => countImages(ctx.app.db, filter, actorFilter),
          };
        }),
    },
    { name: "ImageConnection", description: "A page of training images across actors." },
    { name: "ImageEdge", description: "A training image and its cursor." },
  ),
}));
