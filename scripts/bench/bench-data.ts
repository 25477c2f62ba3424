/**
 * Data sets for the benchmark (SPEC.md §10), written fast and deterministically:
 * - metadata scale: format A manifests (plus format B and prompt_metadata.json for some
 *   actors) with realistic values and no image files; MD5s are deterministic fake hex;
 * - content scale: real image files of an exact size on disk plus format A manifests whose
 *   md5/size match them, and the list of files (a plan seedDemoS3 can put in S3).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadConfig, type S3Config } from "../../src/config.ts";
import type { PlannedObject } from "../../src/demo/demo.ts";
import { naiveIso, roundMb } from "../../src/demo/demo-manifests.ts";
import { makeImageOfSize, makeRandom, md5Hex } from "../../src/demo/image-bytes.ts";
import { DataLayout, s3KeyOf, s3UrlOf } from "../../src/sync/files/layout.ts";

const descriptors = [
  "european",
  "east_asian",
  "african",
  "south_asian",
  "latin_american",
  "middle_eastern",
  "southeast_asian",
  "african_american",
  "pacific_islander",
  "north_african",
];
const genders = ["male", "female"];
const benchEpoch = Date.UTC(2025, 8, 1, 8, 0, 0) / 1000;

/** `{id}_{descriptor}_{age}_{gender}` with a four-digit id (actors beyond 9,999 get more digits). */
export function benchActorName(i: number): string {
  const id = String(i).padStart(4, "0");
  return `${id}_${descriptors[i % descriptors.length]}_${16 + ((i * 7) % 65)}_${genders[(i >> 1) % 2]}`;
}

export interface MetadataScaleOptions {
  actors?: number;
  imagesPerActor?: number;
  /** Every n-th actor also has a format B manifest (0: none). */
  formatBEvery?: number;
  /** Every n-th actor also has a prompt_metadata.json (0: none). */
  promptMetadataEvery?: number;
  s3?: S3Config;
}

export interface MetadataScaleResult {
  actors: number;
  images: number;
  files: number;
  bytes: number;
  seconds: number;
}

/** Statuses of a long-lived mirrored set: mostly synced. */
function statusOf(roll: number): string {
  return roll < 0.85 ? "synced" : roll < 0.93 ? "local_only" : roll < 0.97 ? "s3_only" : "out_of_sync";
}

function fakeMd5(random: () => number): string {
  let hex = "";
  for (let i = 0; i < 4; i++)
    hex += Math.floor(random() * 4294967296)
      .toString(16)
      .padStart(8, "0");
  return hex;
}

export function writeMetadataScale(dataDir: string, options: MetadataScaleOptions = {}): MetadataScaleResult {
  const started = performance.now();
  const actorCount = options.actors ?? 10_000;
  const perActor = options.imagesPerActor ?? 50;
  const formatBEvery = options.formatBEvery ?? 4;
  const promptEvery = options.promptMetadataEvery ?? 2;
  const s3 = options.s3 ?? loadConfig({}).s3;
  const layout = new DataLayout(dataDir);
  const random = makeRandom("bench:metadata");
  mkdirSync(layout.manifestsDir, { recursive: true });
  let files = 0;
  let bytes = 0;
  const write = (path: string, value: unknown) => {
    const text = `${JSON.stringify(value, null, 2)}\n`;
    writeFileSync(path, text);
    files++;
    bytes += Buffer.byteLength(text);
  };

  for (let a = 0; a < actorCount; a++) {
    const name = benchActorName(a);
    const characterId = String(a).padStart(4, "0");
    const base = benchEpoch + a * 600;
    const entries: Array<Record<string, unknown>> = [];
    const counts = { synced: 0, local_only: 0, s3_only: 0, out_of_sync: 0 } as Record<string, number>;
    let totalBytes = 0;
    for (let i = 0; i < perActor; i++) {
      const filename = `${name}_${i}.${i % 9 === 8 ? "png" : "jpg"}`;
      const size = 180_000 + Math.floor(random() * 420_000);
      const mtime = Math.round((base + i * 11.5 + random()) * 1000) / 1000;
      const status = statusOf(random());
      counts[status]!++;
      totalBytes += size;
      entries.push({
        filename,
        local_path: layout.relativeImagePath(name, filename),
        s3_url: status === "local_only" ? null : s3UrlOf(s3, s3KeyOf(s3, name, filename)),
        md5_hash: fakeMd5(random),
        size_bytes: size,
        size_mb: roundMb(size),
        modified_timestamp: mtime,
        modified_date: naiveIso(mtime),
        status,
      });
    }
    const updated = naiveIso(base + perActor * 11.5 + 1800);
    write(layout.formatAPath(characterId), {
      character_id: characterId,
      character_name: name,
      training_data: entries,
      training_data_updated: updated,
      statistics: {
        training_images_count: entries.length,
        training_data_size_mb: roundMb(totalBytes),
        training_synced_count: counts.synced,
        training_local_only_count: counts.local_only,
        training_s3_only_count: counts.s3_only,
        training_out_of_sync_count: counts.out_of_sync,
      },
    });

    const withB = formatBEvery > 0 && a % formatBEvery === 0;
    const withPrompts = promptEvery > 0 && a % promptEvery === 1 % promptEvery;
    if (!withB && !withPrompts) continue;
    mkdirSync(layout.trainingDir(name), { recursive: true });
    const prompts = entries.map(
      (_, i) => `Portrait ${i} of the ${name.endsWith("female") ? "woman" : "man"} in soft window light, 85mm, café au lait tones`,
    );
    if (withB) {
      const images: Record<string, unknown> = {};
      let inB = 0;
      entries.forEach((entry, i) => {
        if (entry.status === "local_only") return;
        const key = s3KeyOf(s3, name, entry.filename as string);
        const generationId = i < perActor / 2 ? 1 : 2;
        images[entry.filename as string] = {
          s3_url: entry.s3_url,
          s3_key: key,
          prompt: prompts[i],
          prompt_preview: prompts[i]!.slice(0, 100),
          generated_at: entry.modified_date,
          last_modified: entry.modified_date,
          size: entry.size_bytes,
          etag: entry.md5_hash,
          index: ++inB,
          generation_id: generationId,
          generation_type: generationId === 1 ? "s3_scan" : "replicate_flux_kontext",
          source: generationId === 1 ? "s3_scan" : "replicate",
        };
      });
      const generationCount = (id: number) =>
        Object.values(images).filter((image) => (image as { generation_id: number }).generation_id === id).length;
      write(layout.formatBPath(name), {
        actor_id: name,
        created_at: naiveIso(base - 86400),
        updated_at: updated,
        total_images: inB,
        generations: [
          {
            generation_id: 1,
            type: "s3_scan",
            generated_at: naiveIso(base - 86400),
            image_count: generationCount(1),
            metadata: { total_scanned: generationCount(1) },
          },
          {
            generation_id: 2,
            type: "replicate_flux_kontext",
            generated_at: naiveIso(base - 43200),
            image_count: generationCount(2),
            metadata: { model: "black-forest-labs/flux-kontext-pro" },
          },
        ],
        images,
      });
    }
    if (withPrompts) {
      const metadata: Record<string, unknown> = {};
      entries.forEach((entry, i) => {
        const roll = random();
        metadata[entry.filename as string] =
          roll < 0.6 ? { prompt: prompts[i], good: true } : roll < 0.8 ? { prompt: prompts[i], good: false } : { prompt: prompts[i] };
      });
      write(layout.promptMetadataPath(name), metadata);
    }
  }
  return { actors: actorCount, images: actorCount * perActor, files, bytes, seconds: (performance.now() - started) / 1000 };
}

export interface ContentScaleOptions {
  actors?: number;
  imagesPerActor?: number;
  bytesPerImage?: number;
  s3?: S3Config;
}

export interface ContentScaleResult {
  /** Every image written; `path` is absolute, so the list is a plan seedDemoS3 can put in S3. */
  files: Array<PlannedObject & { path: string }>;
  totalBytes: number;
  seconds: number;
}

/**
 * Real JPEG files of exactly `bytesPerImage` bytes and format A manifests describing them
 * (md5/size correct, status `local_only`: nothing is in S3 until the benchmark puts it there).
 */
export function writeContentScale(dataDir: string, options: ContentScaleOptions = {}): ContentScaleResult {
  const started = performance.now();
  const actorCount = options.actors ?? 100;
  const perActor = options.imagesPerActor ?? 20;
  const size = options.bytesPerImage ?? 300 * 1024;
  const _s3 = options.s3 ?? loadConfig({}).s3;
  const layout = new DataLayout(dataDir);
  mkdirSync(layout.manifestsDir, { recursive: true });
  const files: ContentScaleResult["files"] = [];
  for (let a = 0; a < actorCount; a++) {
    const name = benchActorName(a);
    const characterId = String(a).padStart(4, "0");
    mkdirSync(layout.trainingDir(name), { recursive: true });
    const entries: Array<Record<string, unknown>> = [];
    const now = benchEpoch + a * 600;
    for (let i = 0; i < perActor; i++) {
      const filename = `${name}_${i}.jpg`;
      const body = makeImageOfSize(`bench:${name}/${filename}`, size);
      const path = layout.imagePath(name, filename);
      writeFileSync(path, body);
      const md5 = md5Hex(body);
      files.push({ name, filename, md5, sizeBytes: body.length, multipart: false, path });
      const mtime = now + i;
      entries.push({
        filename,
        local_path: layout.relativeImagePath(name, filename),
        s3_url: null,
        md5_hash: md5,
        size_bytes: body.length,
        size_mb: roundMb(body.length),
        modified_timestamp: mtime,
        modified_date: naiveIso(mtime),
        status: "local_only",
      });
    }
    writeFileSync(
      layout.formatAPath(characterId),
      `${JSON.stringify(
        {
          character_id: characterId,
          character_name: name,
          training_data: entries,
          training_data_updated: naiveIso(now + perActor + 60),
          statistics: {
            training_images_count: perActor,
            training_data_size_mb: roundMb(perActor * size),
            training_synced_count: 0,
            training_local_only_count: perActor,
            training_s3_only_count: 0,
            training_out_of_sync_count: 0,
          },
        },
        null,
        2,
      )}\n`,
    );
  }
  return { files, totalBytes: files.reduce((sum, file) => sum + file.sizeBytes, 0), seconds: (performance.now() - started) / 1000 };
}
