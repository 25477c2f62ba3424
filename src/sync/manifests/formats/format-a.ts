import { z } from "zod";
import type { ActorRow, ImageRow } from "../../../db/schema.ts";
import { normalizeCharacterId } from "../../files/layout.ts";
import { jsonPathOf, parseEntries, parseWith, type ManifestProblem } from "./problems.ts";
import { roundMb, safeFilename, sameJson, setField, syncStatus, type SourceContribution } from "./fields.ts";

/**
 * Format A: `data/actor_manifests/{characterId}_manifest.json` (seeds 001, 002, 004).
 * Only known fields are read here; fields this service does not know are kept because the
 * exporter starts from the file itself (checked unchanged by its content hash). Plain
 * objects, not loose ones: zod's compiled fast path made a cold import of 500,000 entries
 * about twice as fast.
 */
const entrySchema = z.object({
  filename: safeFilename,
  local_path: z.string().nullish(),
  s3_url: z.string().nullish(),
  md5_hash: z.string().nullish(),
  size_bytes: z.number().int().nonnegative().nullish(),
  size_mb: z.number().nonnegative().nullish(),
  modified_timestamp: z.number().nullish(),
  modified_date: z.string().nullish(),
  status: syncStatus.nullish(),
  good: z.boolean().nullish(),
  prompt: z.string().nullish(),
});

const headerSchema = z.object({
  character_id: z.union([z.string().min(1), z.number().int().nonnegative()]),
  character_name: safeFilename,
  training_data: z.array(z.unknown()).default([]),
  training_data_updated: z.string().nullish(),
  statistics: z.object({}).nullish(),
});
const manifestSchema = headerSchema.extend({ training_data: z.array(entrySchema).default([]) });

/**
 * Parses a format A manifest. A bad header makes the file unreadable (thrown); a bad entry
 * is reported in `problems` and left out, as is the second entry of a filename listed twice.
 */
export function parseFormatA(value: unknown, file: string): SourceContribution {
  const problems: ManifestProblem[] = [];
  // The whole document in one pass when it is valid (the common case, and the fast one).
  const whole = manifestSchema.safeParse(value);
  const manifest = whole.success ? whole.data : parseWith(headerSchema, value, file);
  const entries = whole.success
    ? whole.data.training_data.map((entry, i) => [i, entry] as const)
    : parseEntries(entrySchema, manifest.training_data.entries(), file, ["training_data"], problems);
  const firstAt = new Map<string, number>();
  const unique = entries.filter(([i, entry]) => {
    const first = firstAt.get(entry.filename);
    if (first === undefined) {
      firstAt.set(entry.filename, i);
      return true;
    }
    const jsonPath = jsonPathOf(["training_data", i, "filename"]);
    problems.push({
      file,
      jsonPath,
      reason: `${JSON.stringify(entry.filename)} is listed twice (first at ${jsonPathOf(["training_data", first])})`,
    });
    return false;
  });
  return {
    file,
    format: "format_a",
    updatedAt: manifest.training_data_updated ?? null,
    actorName: manifest.character_name,
    characterId: normalizeCharacterId(manifest.character_id),
    listsImages: true,
    problems,
    images: unique.map(([, entry]) => ({
      filename: entry.filename,
      localPath: entry.local_path,
      s3Url: entry.s3_url,
      md5: entry.md5_hash,
      sizeBytes: entry.size_bytes ?? (entry.size_mb != null ? Math.round(entry.size_mb * 1048576) : undefined),
      modifiedTimestamp: entry.modified_timestamp,
      modifiedAt: entry.modified_date,
      status: entry.status,
      good: entry.good,
      prompt: entry.prompt,
    })),
  };
}

export interface ExportInput {
  actor: ActorRow;
  images: ImageRow[];
  /** The actor changed since its manifests were last written: timestamps move. */
  touched: boolean;
  now: string;
  s3Only: boolean;
}

/** Fields the s3-only variant (seed 002) has no place for: added only where an entry already has them. */
const mirroredOnlyFields = ["local_path", "md5_hash", "status", "size_bytes", "modified_timestamp"];
const mirroredOnlyStatistics = [
  "training_synced_count",
  "training_local_only_count",
  "training_s3_only_count",
  "training_out_of_sync_count",
  "training_missing_count",
];

/** The manifest to write: the previous document with every known field brought up to date. */
export function renderFormatA(previous: unknown, input: ExportInput): Record<string, unknown> {
  const { actor, images, touched, now } = input;
  const doc: Record<string, unknown> = isObject(previous) ? structuredClone(previous) : {};
  const previousEntries = new Map<string, Record<string, unknown>>();
  for (const entry of Array.isArray(doc.training_data) ? doc.training_data : []) {
    if (isObject(entry) && typeof entry.filename === "string") previousEntries.set(entry.filename, entry);
  }
  const lean = input.s3Only || isS3OnlyVariant([...previousEntries.values()]);

  setField(doc, "character_id", actor.characterId ?? actor.name, (old, next) => normalizeCharacterId(old as string) === next);
  setField(doc, "character_name", actor.name);
  doc.training_data = orderLike([...previousEntries.keys()], images).map((image) => {
    const entry = previousEntries.get(image.filename) ?? {};
    const put = (key: string, value: unknown, same?: (a: unknown, b: unknown) => boolean) => {
      if (lean && mirroredOnlyFields.includes(key) && !(key in entry)) return;
      setField(entry, key, value, same);
    };
    const sizeMb = image.sizeBytes == null ? null : roundMb(image.sizeBytes);
    put("filename", image.filename);
    put("local_path", image.localPath);
    // A local copy known to be gone (pruned, or deleted locally): the path is no longer true.
    if (image.localPath === null && image.status === "s3_only" && entry.local_path != null) entry.local_path = null;
    put("s3_url", image.s3Url);
    put("md5_hash", image.md5);
    put("size_bytes", image.sizeBytes);
    put("size_mb", sizeMb);
    put("modified_timestamp", image.modifiedTimestamp);
    put("modified_date", image.modifiedAt);
    put("status", image.status);
    // A rating taken back is written as null (setField never erases): `good` is tri-state.
    if ("good" in entry) entry.good = sameJson(entry.good, image.good) ? entry.good : image.good;
    if ("prompt" in entry) put("prompt", image.prompt);
    return entry;
  });
  setField(doc, "training_data_updated", touched ? now : (actor.manifestUpdatedAt ?? now), () => !touched);

  // Statistics are recomputed for a changed actor; an untouched one keeps what it says (sizes
  // estimated from `size_mb` alone would otherwise move a rounded total by 0.01).
  const statistics: Record<string, unknown> = isObject(doc.statistics) ? doc.statistics : {};
  const setStatistic = (key: string, value: number) => setField(statistics, key, value, (old, next) => !touched || old === next);
  setStatistic("training_images_count", images.length);
  setStatistic("training_data_size_mb", roundMb(images.reduce((sum, image) => sum + (image.sizeBytes ?? 0), 0)));
  const statusKeys = ["synced", "local_only", "s3_only", "out_of_sync", "missing"] as const;
  statusKeys.forEach((status, i) => {
    const key = mirroredOnlyStatistics[i]!;
    const value = countStatus(images, status);
    // The missing count is newer than the seeds' manifests: only written where it says something.
    if ((lean || (status === "missing" && value === 0)) && !(key in statistics)) return;
    setStatistic(key, value);
  });
  doc.statistics = statistics;
  return doc;
}

/** A manifest written by the s3-only tools: entries without any local-side field. */
function isS3OnlyVariant(entries: Record<string, unknown>[]): boolean {
  return entries.length > 0 && entries.every((entry) => mirroredOnlyFields.every((key) => !(key in entry)));
}

function countStatus(images: ImageRow[], status: ImageRow["status"]): number {
  return images.reduce((count, image) => count + (image.status === status ? 1 : 0), 0);
}

/** Keeps the previous entry order; images new to this manifest follow, by index then name. */
export function orderLike(previousOrder: string[], images: ImageRow[]): ImageRow[] {
  const position = new Map(previousOrder.map((filename, i) => [filename, i]));
  return [...images].sort((a, b) => {
    const pa = position.get(a.filename) ?? Number.MAX_SAFE_INTEGER;
    const pb = position.get(b.filename) ?? Number.MAX_SAFE_INTEGER;
    if (pa !== pb) return pa - pb;
    if ((a.index ?? -1) !== (b.index ?? -1)) return (a.index ?? -1) - (b.index ?? -1);
    return a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0;
  });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
