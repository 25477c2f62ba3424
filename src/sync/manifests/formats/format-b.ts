import { z } from "zod";
import type { GenerationRow } from "../../../db/schema.ts";
import { parseEntries, parseWith, type ManifestProblem } from "./problems.ts";
import { safeFilename, sameJson, setField, type SourceContribution } from "./fields.ts";
import { isObject, orderLike, type ExportInput } from "./format-a.ts";

/** Format B: `data/actors/{name}/training_data/manifest.json` (seed 003), the S3-side manifest. */
const imageSchema = z.object({
  s3_url: z.string().nullish(),
  s3_key: z.string().nullish(),
  prompt: z.string().nullish(),
  prompt_preview: z.string().nullish(),
  generated_at: z.string().nullish(),
  last_modified: z.string().nullish(),
  size: z.number().int().nonnegative().nullish(),
  etag: z.string().nullish(),
  index: z.number().int().nullish(),
  generation_id: z.number().int().nullish(),
  generation_type: z.string().nullish(),
  source: z.string().nullish(),
  good: z.boolean().nullish(),
});

const generationSchema = z.object({
  generation_id: z.number().int(),
  type: z.string().min(1),
  generated_at: z.string().nullish(),
  image_count: z.number().int().nonnegative().nullish(),
  metadata: z.unknown().optional(),
});

const headerSchema = z.object({
  actor_id: safeFilename,
  created_at: z.string().nullish(),
  updated_at: z.string().nullish(),
  total_images: z.number().int().nonnegative().nullish(),
  generations: z.array(z.unknown()).default([]),
  images: z.record(z.string(), z.unknown()).default({}),
});
const manifestSchema = headerSchema.extend({
  generations: z.array(generationSchema).default([]),
  images: z.record(safeFilename, imageSchema).default({}),
});

/**
 * Parses a format B manifest. A bad header makes the file unreadable (thrown); a bad
 * generation or image (a refused filename key included) is reported in `problems` and left out.
 */
export function parseFormatB(value: unknown, file: string): SourceContribution {
  const problems: ManifestProblem[] = [];
  const whole = manifestSchema.safeParse(value);
  const manifest = whole.success ? whole.data : parseWith(headerSchema, value, file);
  const generations = whole.success
    ? whole.data.generations
    : parseEntries(generationSchema, manifest.generations.entries(), file, ["generations"], problems).map(([, generation]) => generation);
  const keys = whole.success
    ? []
    : parseEntries(
        safeFilename,
        Object.keys(manifest.images).map((key) => [key, key]),
        file,
        ["images"],
        problems,
      );
  const images = whole.success
    ? Object.entries(whole.data.images)
    : parseEntries(
        imageSchema,
        keys.map(([key]) => [key, manifest.images[key]]),
        file,
        ["images"],
        problems,
      );
  return {
    file,
    format: "format_b",
    updatedAt: manifest.updated_at ?? manifest.created_at ?? null,
    actorName: manifest.actor_id,
    listsImages: true,
    problems,
    generations: generations.map((generation) => ({
      generationKey: generation.generation_id,
      type: generation.type,
      generatedAt: generation.generated_at ?? null,
      imageCount: generation.image_count ?? 0,
      metadata: generation.metadata,
    })),
    images: images.map(([filename, image]) => ({
      filename,
      s3Url: image.s3_url,
      s3Key: image.s3_key,
      prompt: image.prompt,
      promptPreview: image.prompt_preview,
      generatedAt: image.generated_at,
      s3LastModified: image.last_modified,
      sizeBytes: image.size,
      s3Etag: image.etag,
      index: image.index,
      generationKey: image.generation_id,
      generationType: image.generation_type,
      source: image.source,
      good: image.good,
    })),
  };
}

export interface FormatBInput extends ExportInput {
  generations: GenerationRow[];
}

/**
 * Format B lists what is (or may be) in S3: every image not known to be local-only or
 * missing. The previous document is kept, known fields brought up to date.
 */
export function renderFormatB(previous: unknown, input: FormatBInput): Record<string, unknown> {
  const { actor, touched, now } = input;
  const doc: Record<string, unknown> = isObject(previous) ? structuredClone(previous) : {};
  const previousImages = isObject(doc.images) ? doc.images : {};
  const inS3 = input.images.filter((image) =>
    image.status === null ? image.s3Key !== null || image.s3Etag !== null : !["local_only", "missing"].includes(image.status),
  );
  const generationKeyOf = new Map(input.generations.map((generation) => [generation.id, generation]));

  setField(doc, "actor_id", actor.name);
  if (!("created_at" in doc)) doc.created_at = now;
  setField(doc, "updated_at", touched ? now : (actor.manifestUpdatedAt ?? now), () => !touched);
  setField(doc, "total_images", inS3.length);

  const previousGenerations = new Map<number, Record<string, unknown>>();
  for (const entry of Array.isArray(doc.generations) ? doc.generations : []) {
    if (isObject(entry) && typeof entry.generation_id === "number") previousGenerations.set(entry.generation_id, entry);
  }
  doc.generations = [...input.generations]
    .sort((a, b) => a.generationKey - b.generationKey)
    .map((generation) => {
      const entry = previousGenerations.get(generation.generationKey) ?? {};
      setField(entry, "generation_id", generation.generationKey);
      setField(entry, "type", generation.type);
      setField(entry, "generated_at", generation.generatedAt);
      setField(entry, "image_count", generation.imageCount);
      if (generation.metadata !== null) setField(entry, "metadata", JSON.parse(generation.metadata));
      return entry;
    });

  const images: Record<string, unknown> = {};
  for (const image of orderLike(Object.keys(previousImages), inS3)) {
    const previousEntry = previousImages[image.filename];
    const entry: Record<string, unknown> = isObject(previousEntry) ? previousEntry : {};
    const generation = image.generationId === null ? undefined : generationKeyOf.get(image.generationId);
    setField(entry, "s3_url", image.s3Url);
    setField(entry, "s3_key", image.s3Key);
    setField(entry, "prompt", image.prompt);
    setField(entry, "prompt_preview", image.promptPreview);
    setField(entry, "generated_at", image.generatedAt);
    setField(entry, "last_modified", image.s3LastModified);
    setField(entry, "size", image.sizeBytes);
    setField(entry, "etag", image.s3Etag);
    setField(entry, "index", image.index);
    setField(entry, "generation_id", generation?.generationKey);
    setField(entry, "generation_type", generation?.type);
    setField(entry, "source", image.source);
    // A rating taken back is written as null (setField never erases): `good` is tri-state.
    if ("good" in entry) entry.good = sameJson(entry.good, image.good) ? entry.good : image.good;
    images[image.filename] = entry;
  }
  doc.images = images;
  return doc;
}
