import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";

/** Writes a format A manifest (seed 004 shape) for an actor with the given images; returns its path. */
export function writeFormatA(
  dataDir: string,
  actor: { characterId: string | number; name: string; extra?: Record<string, unknown> },
  entries: Record<string, unknown>[],
): string {
  const path = join(dataDir, "actor_manifests", `${String(actor.characterId).padStart(4, "0")}_manifest.json`);
  const bytes = entries.reduce((sum, entry) => sum + (typeof entry.size_bytes === "number" ? entry.size_bytes : 0), 0);
  const count = (status: string) => entries.filter((entry) => entry.status === status).length;
  writeJson(path, {
    character_id: actor.characterId,
    character_name: actor.name,
    ...actor.extra,
    training_data: entries,
    training_data_updated: "2025-10-17T16:30:00.000000",
    statistics: {
      training_images_count: entries.length,
      training_data_size_mb: Math.round((bytes / 1048576) * 100) / 100,
      training_synced_count: count("synced"),
      training_local_only_count: count("local_only"),
      training_s3_only_count: count("s3_only"),
      training_out_of_sync_count: count("out_of_sync"),
    },
  });
  return path;
}

/** One format A entry for `{name}_{index}.jpg` with consistent size fields. */
export function entryA(name: string, index: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const filename = `${name}_${index}.jpg`;
  const size = 1000 + index;
  return {
    filename,
    local_path: `data/actors/${name}/training_data/${filename}`,
    s3_url: `https://story-boards-assets.s3.us-west-1.amazonaws.com/system_actors/training_data/${name}/${filename}`,
    md5_hash: createHash("md5").update(filename).digest("hex"),
    size_bytes: size,
    size_mb: Math.round((size / 1048576) * 100) / 100,
    modified_timestamp: 1729176000.5,
    modified_date: "2025-10-17T15:57:00.000000",
    status: "synced",
    ...overrides,
  };
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
