import { generationsByIds } from "../db/image-queries.ts";
import type { GenerationRow } from "../db/schema.ts";
import { builder } from "./builder.ts";
import type { GraphQLContext } from "./context.ts";

/** A batch that produced images; loaded by id in batches wherever an image points at it. */
export const Generation = builder.loadableObjectRef<GenerationRow, number>("Generation", {
  load: async (ids: number[], ctx: GraphQLContext) =>
    generationsByIds(ctx.app.db, ids).map((row, i) => row ?? new Error(`generation ${ids[i]} not found`)),
});

Generation.implement({
  description: "A batch that produced training images (an S3 scan, a Replicate run, an upload, …).",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Database id." }),
    key: t.exposeInt("generationKey", { description: "The manifest's own `generation_id`, unique within the actor." }),
    type: t.exposeString("type", { description: "Kind of batch: `s3_scan`, `replicate_flux_kontext`, `upload`, …" }),
    generatedAt: t.expose("generatedAt", { type: "DateTime", nullable: true, description: "When the batch ran, if known." }),
    imageCount: t.exposeInt("imageCount", { description: "How many images the manifest says the batch produced." }),
    metadata: t.exposeString("metadata", { nullable: true, description: "Free metadata of the batch, as a JSON text." }),
  }),
});
