import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import type { SyncStatus } from "../../src/db/schema.ts";
import { actorByName } from "../../src/db/actor-queries.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { parseActorName, s3KeyOf, s3UrlOf } from "../../src/sync/files/layout.ts";
import { putObjectWithMd5 } from "../../src/sync/s3/s3-client.ts";
import { mapLimit } from "../../src/sync/concurrency.ts";
import type { World } from "./world.ts";

export interface FixtureImage {
  /** Default `{name}_{i}.jpg`. */
  filename?: string;
  /** The content the manifest describes (md5_hash, size_bytes); default some bytes unique to the file. */
  content?: Buffer;
  /** Write the local file: true = `content`, a Buffer = other bytes. */
  local?: boolean | Buffer;
  /** Put the S3 object: true = `content`, a Buffer = other bytes. */
  s3?: boolean | Buffer;
  /** The manifest's status; default derived from which sides are written. */
  status?: SyncStatus | null;
  /** false: the file/object exists but no manifest lists it (an orphan). Default true. */
  inManifest?: boolean;
}

export interface FixtureActor {
  name: string;
  id: number;
  filenames: string[];
  /** The bytes each manifest entry describes. */
  contents: Map<string, Buffer>;
}

export function md5Of(bytes: Buffer): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** Bytes of a given size unique to `seed`, so two files differ but can share a size. */
export function bytesFor(seed: string, size = 2048): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash("sha256").update(seed).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/**
 * Writes an actor as the studio would have it: a format A manifest (the s3-only variant
 * when the world is in s3-only mode), local files and S3 objects as asked, then imports.
 */
export async function makeActor(
  world: World,
  spec: { name: string; images: FixtureImage[]; importAfter?: boolean },
): Promise<FixtureActor> {
  const { name } = spec;
  const s3Only = world.config.storageMode === "s3-only";
  const characterId = parseActorName(name).characterId ?? "9999";
  const contents = new Map<string, Buffer>();
  const entries: Record<string, unknown>[] = [];
  const puts: { key: string; body: Buffer }[] = [];
  spec.images.forEach((image, i) => {
    const filename = image.filename ?? `${name}_${i}.jpg`;
    const content = image.content ?? bytesFor(`${name}/${filename}`);
    contents.set(filename, content);
    const key = s3KeyOf(world.config.s3, name, filename);
    if (image.local) writeFile(world.ctx.layout.imagePath(name, filename), image.local === true ? content : image.local);
    if (image.s3) puts.push({ key, body: image.s3 === true ? content : image.s3 });
    if (image.inManifest === false) return;
    const status = image.status !== undefined ? image.status : statusFromSides(!!image.local, !!image.s3);
    const entry: Record<string, unknown> = s3Only
      ? {
          filename,
          s3_url: s3UrlOf(world.config.s3, key),
          size_mb: Math.round((content.length / 1048576) * 100) / 100,
          modified_date: "2025-10-17T15:57:00.000000",
        }
      : {
          filename,
          local_path: world.ctx.layout.relativeImagePath(name, filename),
          s3_url: s3UrlOf(world.config.s3, key),
          md5_hash: md5Of(content),
          size_bytes: content.length,
          size_mb: Math.round((content.length / 1048576) * 100) / 100,
          modified_timestamp: 1760716620.0,
          modified_date: "2025-10-17T15:57:00.000000",
          ...(status !== null ? { status } : {}),
        };
    entries.push(entry);
  });
  await mapLimit(puts, 32, ({ key, body }) => putObjectWithMd5(world.s3.client, world.config.s3.bucket, key, body));
  writeFile(
    world.ctx.layout.formatAPath(characterId),
    Buffer.from(
      JSON.stringify(
        {
          character_id: characterId,
          character_name: name,
          training_data: entries,
          training_data_updated: "2025-10-17T16:30:00.000000",
          statistics: { training_images_count: entries.length },
        },
        null,
        2,
      ),
    ),
  );
  if (spec.importAfter !== false) {
    const report = await importManifests(world.ctx);
    if (report.problems.length > 0) throw new Error(`fixture import failed: ${JSON.stringify(report.problems)}`);
  }
  const actor = actorByName(world.db, name);
  return { name, id: actor?.id ?? -1, filenames: [...contents.keys()], contents };
}

function statusFromSides(local: boolean, s3: boolean): SyncStatus {
  return local && s3 ? "synced" : local ? "local_only" : s3 ? "s3_only" : "missing";
}

function writeFile(path: string, bytes: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

export async function putImage(world: World, name: string, filename: string, body: Buffer): Promise<void> {
  await putObjectWithMd5(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, name, filename), body);
}

export async function deleteImageObject(world: World, name: string, filename: string): Promise<void> {
  await world.s3.client.send(new DeleteObjectCommand({ Bucket: world.config.s3.bucket, Key: s3KeyOf(world.config.s3, name, filename) }));
}
