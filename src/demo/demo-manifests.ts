/**
 * The demo's manifest files, one writer per kind (format A, format B, legacy response.json,
 * prompt_metadata.json), from an actor's draft (roster.ts). Each writer records what it
 * wrote in the actor's `ActorWrite`: the file, which images it names, what it broke on purpose.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { S3Config } from "../config.ts";
import { type DataLayout, s3KeyOf, s3UrlOf } from "../sync/files/layout.ts";
import type { DemoActor, DemoBrokenFile, DemoDataSet, DemoImage, DemoTrait, ManifestSource } from "./demo.ts";
import { md5Hex } from "./image-bytes.ts";
import { promptFor, scenarioRules, type ActorDraft, type ImageDraft } from "./roster.ts";

/** One actor's files as they are written: what the writers add to, and what the data set then says of the actor. */
export interface ActorWrite {
  draft: ActorDraft;
  layout: DataLayout;
  s3: S3Config;
  healthy: boolean;
  /** When its manifests say they were last updated. */
  updated: string;
  traits: Set<DemoTrait>;
  files: DemoActor["files"];
  /** The files that name each image. */
  listedIn: Map<string, ManifestSource[]>;
  formatAStatus: Map<string, NonNullable<DemoImage["formatA"]>>;
  broken: DemoBrokenFile | null;
  roundTripExempt: string | null;
  legacyUrls: string[];
  dataSet: Pick<DemoDataSet, "brokenFiles" | "healthyManifests">;
}

/** `2025-10-17T15:57:00.000000`: the naive ISO form Python's isoformat() wrote. */
export function naiveIso(seconds: number): string {
  return `${new Date(Math.round(seconds * 1000)).toISOString().slice(0, -1)}000`;
}

export function roundMb(bytes: number): number {
  return Math.round((bytes / 1048576) * 100) / 100;
}

/** Code-point slice, as Python slices text: never splits an emoji. */
function previewOf(prompt: string): string {
  const points = Array.from(prompt);
  return points.length > 100 ? `${points.slice(0, 100).join("")}...` : prompt;
}

const hostileFilename = "../../etc/passwd";

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Python's json.dump default (ensure_ascii): non-ASCII as \uXXXX escapes. Same JSON value. */
function asciiJson(value: unknown): string {
  return json(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A path relative to the data directory, with forward slashes. */
export function relativePath(layout: DataLayout, path: string): string {
  return path
    .slice(layout.root.length + 1)
    .split("\\")
    .join("/");
}

function urlOf(w: ActorWrite, filename: string): string {
  return s3UrlOf(w.s3, s3KeyOf(w.s3, w.draft.name, filename));
}

function listed(w: ActorWrite, filename: string, source: ManifestSource): void {
  w.listedIn.get(filename)?.push(source);
}

export function listedNames(listedIn: Map<string, ManifestSource[]>, source: ManifestSource): string[] {
  return [...listedIn].filter(([, sources]) => sources.includes(source)).map(([filename]) => filename);
}

export async function writeText(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, "utf8");
}

export async function writeBytes(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

/** Format A: mirrored (statuses, MD5s, sizes) or as seed 002's s3-only manifests were; broken on purpose for the broken actors. */
export async function writeFormatA(w: ActorWrite): Promise<void> {
  const { draft } = w;
  if (!draft.formatA || !draft.characterId) return;
  w.traits.add("format_a");
  const mirrored = draft.formatA === "mirrored";
  const entries = formatAEntries(w, mirrored);
  const statuses = entries.map((entry) => entry.status);
  const totalBytes = draft.images
    .filter((image) => w.formatAStatus.has(image.filename))
    .reduce((sum, image) => sum + image.described.length, 0);
  const statistics: Record<string, unknown> = mirrored
    ? {
        training_images_count: entries.length,
        training_data_size_mb: roundMb(totalBytes),
        training_synced_count: statuses.filter((s) => s === "synced").length,
        training_local_only_count: statuses.filter((s) => s === "local_only").length,
        training_s3_only_count: statuses.filter((s) => s === "s3_only").length,
        training_out_of_sync_count: statuses.filter((s) => s === "out_of_sync").length,
      }
    : { training_images_count: entries.length, training_data_size_mb: roundMb(totalBytes) };
  const manifest: Record<string, unknown> = {
    character_id: draft.numericId ? Number(draft.characterId) : draft.characterId,
    character_name: draft.name,
    ...draft.topExtras,
    training_data: entries,
    training_data_updated: w.updated,
    statistics: { ...statistics, ...draft.statisticsExtras },
  };
  const path = w.layout.formatAPath(draft.characterId);
  w.files.formatA = relativePath(w.layout, path);
  const text = breakFormatA(w, w.files.formatA, manifest, entries);
  if (w.broken) w.dataSet.brokenFiles.push(w.broken);
  else if (w.healthy) w.dataSet.healthyManifests.push(w.files.formatA);
  await writeText(path, text);
}

function formatAEntries(w: ActorWrite, mirrored: boolean): Record<string, unknown>[] {
  const { name } = w.draft;
  const entries: Record<string, unknown>[] = [];
  for (const image of w.draft.images) {
    const rule = scenarioRules[image.scenario];
    if (rule.formatA === null) continue;
    listed(w, image.filename, "format_a");
    const size = image.described.length;
    const md5 = md5Hex(image.described);
    const status = mirrored ? rule.formatA : null;
    w.formatAStatus.set(image.filename, { status, md5: mirrored ? md5 : null, sizeBytes: size });
    const entry: Record<string, unknown> = mirrored
      ? {
          filename: image.filename,
          local_path: rule.local === null && rule.formatA === "s3_only" ? null : w.layout.relativeImagePath(name, image.filename),
          s3_url: status === "local_only" ? null : urlOf(w, image.filename),
          md5_hash: md5,
          size_bytes: size,
          size_mb: roundMb(size),
          modified_timestamp: image.mtime,
          modified_date: naiveIso(image.mtime),
          status,
        }
      : { filename: image.filename, s3_url: urlOf(w, image.filename), size_mb: roundMb(size), modified_date: naiveIso(image.mtime) };
    entries.push({ ...entry, ...image.entryExtras });
  }
  return entries;
}

/** The format A text, with the actor's planned breakage (recorded in `w.broken`) if it has one. */
function breakFormatA(w: ActorWrite, file: string, manifest: Record<string, unknown>, entries: Record<string, unknown>[]): string {
  const { name } = w.draft;
  switch (w.draft.breakage) {
    case "truncated": {
      const text = json(manifest);
      w.broken = { path: file, reason: "truncated JSON", jsonPath: null };
      return text.slice(0, Math.floor(text.length * 0.6));
    }
    case "wrong_type":
      entries[2]!.size_bytes = "big";
      w.broken = { path: file, reason: 'size_bytes is the string "big"', jsonPath: "$.training_data[2].size_bytes" };
      return json(manifest);
    case "unknown_status":
      entries[1]!.status = "sideways";
      w.broken = { path: file, reason: 'unknown status "sideways"', jsonPath: "$.training_data[1].status" };
      return json(manifest);
    case "hostile_filename": {
      const hostileEntry = entries[3]!;
      hostileEntry.filename = hostileFilename;
      hostileEntry.local_path = `data/actors/${name}/training_data/${hostileFilename}`;
      hostileEntry.s3_url = `https://${w.s3.bucket}.s3.${w.s3.region}.amazonaws.com/${w.s3.prefix}${name}/${hostileFilename}`;
      w.broken = { path: file, reason: `hostile filename ${JSON.stringify(hostileFilename)}`, jsonPath: "$.training_data[3].filename" };
      const replaced = w.draft.images[3]!.filename;
      w.formatAStatus.delete(replaced);
      w.listedIn.set(replaced, []);
      return json(manifest);
    }
    default:
      return json(manifest);
  }
}

/** Format B: what the S3 scans and generations knew (images in S3 that some manifest names). */
export async function writeFormatB(w: ActorWrite): Promise<void> {
  const { draft, s3 } = w;
  if (!draft.formatB) return;
  w.traits.add("format_b");
  const kinds = draft.formatB.generations;
  const inB = draft.images.filter((image) => image.s3 !== null && image.scenario !== "s3_orphan" && image.scenario !== "legacy_only");
  const generationOf = (image: ImageDraft, position: number) => {
    if (kinds.length === 1) return 1;
    if (draft.name.startsWith("0001_")) return image.generation;
    return position < Math.ceil(inB.length * 0.6) ? 1 : 2;
  };
  const generationTime = (generationId: number) => draft.baseTime - 86400 + (generationId - 1) * 5400;
  const images: Record<string, unknown> = {};
  const counts = new Map<number, number>();
  inB.forEach((image, position) => {
    const generationId = generationOf(image, position);
    const type = kinds[generationId - 1]!;
    counts.set(generationId, (counts.get(generationId) ?? 0) + 1);
    listed(w, image.filename, "format_b");
    const key = s3KeyOf(s3, draft.name, image.filename);
    const generatedAt = naiveIso(generationTime(generationId) + position * 41.5);
    images[image.filename] = {
      s3_url: s3UrlOf(s3, key),
      s3_key: key,
      prompt: image.prompt,
      prompt_preview: image.prompt === null ? null : previewOf(image.prompt),
      generated_at: generatedAt,
      last_modified: naiveIso(image.mtime),
      size: image.s3!.length,
      etag: md5Hex(image.s3!),
      index: position + 1,
      generation_id: generationId,
      generation_type: type,
      source: type === "replicate_flux_kontext" ? "replicate" : type,
      ...(draft.name.startsWith("0016_") && position % 4 === 0 ? { width: 96, height: 128, seed: 1000 + position } : {}),
    };
  });
  const generations = kinds.map((type, i) => {
    const generationId = i + 1;
    const at = naiveIso(generationTime(generationId));
    const imageCount = counts.get(generationId) ?? 0;
    return {
      generation_id: generationId,
      type,
      generated_at: at,
      image_count: imageCount,
      metadata: generationMetadata(type, at, imageCount),
    };
  });
  const manifest: Record<string, unknown> = {
    actor_id: draft.name,
    created_at: naiveIso(generationTime(1)),
    updated_at: w.updated,
    total_images: inB.length,
    generations,
    images,
    ...(draft.name.startsWith("0020_") ? { scan_settings: { bucket: s3.bucket, recursive: false, include: ["*.jpg", "*.png"] } } : {}),
  };
  const path = w.layout.formatBPath(draft.name);
  w.files.formatB = relativePath(w.layout, path);
  await writeText(path, json(manifest));
  if (w.healthy) w.dataSet.healthyManifests.push(w.files.formatB);
}

function generationMetadata(type: string, at: string, imageCount: number): Record<string, unknown> {
  if (type === "s3_scan") return { scanned_at: at, total_scanned: imageCount };
  if (type === "replicate_flux_kontext") {
    return {
      model: "black-forest-labs/flux-kontext-pro",
      aspect_ratio: "3:4",
      output_format: "jpg",
      seed: 424242,
      prompt_template: "{actor} — scène n°{i}, 写真",
    };
  }
  return { uploaded_by: "markus", source_dir: "~/Downloads/refs", original_names: ["IMG_2041.JPG", "Foto café.jpg", "写真.png"] };
}

/** Legacy response.json: S3 URLs nested anywhere, plus URLs that are not this actor's. */
export async function writeLegacyResponse(w: ActorWrite): Promise<void> {
  const { draft, s3 } = w;
  if (!draft.response) return;
  w.traits.add("legacy_response");
  // The legacy-only images (named nowhere else) first, then others, up to six URLs.
  const inS3 = draft.images.filter((image) => image.s3 !== null);
  const chosen = [...inS3.filter((image) => image.scenario === "legacy_only"), ...inS3.filter((image) => image.scenario !== "legacy_only")]
    .slice(0, 6)
    .sort((x, y) => x.index - y.index);
  const urls = chosen.map((image) => {
    listed(w, image.filename, "response");
    return urlOf(w, image.filename);
  });
  w.legacyUrls.push(...urls);
  if (w.files.formatA && chosen.some((image) => image.scenario === "legacy_only")) {
    // Importing response.json adds images format A lacks, so its export rightly differs.
    w.roundTripExempt = "response.json names an S3 image that format A lacks";
    w.dataSet.healthyManifests.splice(w.dataSet.healthyManifests.indexOf(w.files.formatA), 1);
  }
  const response = {
    id: `p8x2k4bq1hrm40cjw5ja3gnv2c${draft.characterId ?? ""}`,
    model: "black-forest-labs/flux-kontext-pro",
    status: "succeeded",
    created_at: "2025-09-30T18:22:41.201Z",
    input: {
      prompt: promptFor(draft.name, draft.gender, 0),
      input_image: "https://replicate.delivery/pbxt/Qm4x/base.png",
      aspect_ratio: "3:4",
    },
    output: urls.slice(0, 2),
    uploads: [{ filename: urls[2]?.split("/").pop(), s3: { url: urls[2], bucket: s3.bucket } }, { result: { urls: urls.slice(3, 5) } }],
    by_index: Object.fromEntries(urls.slice(5).map((url, i) => [String(5 + i), url])),
    reference: s3UrlOf(s3, s3KeyOf(s3, "0000_european_16_male", "0000_european_16_male_0.jpg")),
    metrics: { predict_time: 41.2, total_time: 43.9 },
  };
  const path = w.layout.responsePath(draft.name);
  w.files.response = relativePath(w.layout, path);
  await writeText(path, json(response));
}

/** prompt_metadata.json: ratings and prompts, in one of the two shapes seen. */
export async function writePromptMetadata(w: ActorWrite): Promise<void> {
  const { draft } = w;
  if (!draft.promptMetadata) return;
  w.traits.add(draft.promptMetadata === "object" ? "prompt_metadata_object" : "prompt_metadata_list");
  const rated = draft.images.filter(
    (image) => (image.prompt !== null || image.good !== null) && image.scenario !== "local_orphan" && image.scenario !== "s3_orphan",
  );
  const entryOf = (image: ImageDraft, i: number) => ({
    ...(image.prompt !== null ? { prompt: image.prompt } : {}),
    ...(image.good !== null ? { good: image.good } : {}),
    ...(image.good !== null ? { rated_at: naiveIso(draft.baseTime + 86400 * 2 + i * 13) } : {}),
  });
  for (const image of rated) listed(w, image.filename, "prompt_metadata");
  const value =
    draft.promptMetadata === "object"
      ? Object.fromEntries(rated.map((image, i) => [image.filename, entryOf(image, i)]))
      : rated.map((image, i) => ({ filename: image.filename, ...entryOf(image, i), seed: 1000 + image.index }));
  const path = w.layout.promptMetadataPath(draft.name);
  w.files.promptMetadata = relativePath(w.layout, path);
  // One actor's file as Python's json.dump wrote it by default: \u escapes.
  await writeText(path, draft.name.startsWith("0001_") ? asciiJson(value) : json(value));
  if (w.healthy) w.dataSet.healthyManifests.push(w.files.promptMetadata);
}
