/**
 * Metadata-scale import benchmark (SPEC.md §10): 10,000 actors × 50 images of generated
 * manifests, no image files. Reports the rate of a cold import into a fresh SQLite file as a
 * ratio to its floor measured in the same run (bar: at least 0.5×), and the time of a
 * re-import with nothing changed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { writeMetadataScale } from "./bench-data.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { median, type BenchFigure } from "./figures.ts";

export interface ImportBenchOptions {
  /** Folder holding the generated data set; reused when it is already there. */
  dir: string;
  actors?: number;
  imagesPerActor?: number;
  runs?: number;
  log?: (line: string) => void;
}

/** The metadata-scale data set under `dir`, generated once and reused by later runs; returns its data directory. */
export function metadataScaleDataDir(dir: string, actors: number, perActor: number, log: (line: string) => void): string {
  const dataDir = join(dir, `metadata-${actors}x${perActor}`);
  if (!existsSync(join(dataDir, "actor_manifests"))) {
    mkdirSync(dataDir, { recursive: true });
    const written = writeMetadataScale(dataDir, { actors, imagesPerActor: perActor });
    log(
      `generated ${written.actors} actors, ${written.images} images in ${written.files} files (${(written.bytes / 1e6).toFixed(0)} MB) in ${written.seconds.toFixed(1)} s`,
    );
  }
  return dataDir;
}

export async function runImportBench(options: ImportBenchOptions): Promise<BenchFigure[]> {
  const actors = options.actors ?? 10_000;
  const perActor = options.imagesPerActor ?? 50;
  const log = options.log ?? ((line: string) => console.error(line));
  const dataDir = metadataScaleDataDir(options.dir, actors, perActor, log);

  const cold: number[] = [];
  let images = 0;
  let warmSeconds = Number.POSITIVE_INFINITY;
  for (let run = 0; run < (options.runs ?? 3); run++) {
    const dbPath = join(options.dir, `import-bench-${run}.db`);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
    const ctx = makeContext(loadConfig({ DATA_DIR: dataDir, DB_PATH: dbPath }), openStore(dbPath), silentLogger);
    try {
      let started = performance.now();
      const report = await importManifests(ctx);
      cold.push((performance.now() - started) / 1000);
      images = report.imagesImported;
      if (report.problems.length > 0) throw new Error(`bench data did not import cleanly: ${report.problems[0]!.reason}`);
      started = performance.now();
      const again = await importManifests(ctx);
      warmSeconds = Math.min(warmSeconds, (performance.now() - started) / 1000);
      if (again.filesRead !== 0) throw new Error(`a no-change re-import read ${again.filesRead} files`);
      log(`run ${run + 1}: cold ${cold.at(-1)!.toFixed(2)} s, no-change re-import ${((performance.now() - started) / 1000).toFixed(3)} s`);
    } finally {
      closeStore(ctx.db);
      for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
    }
  }
  const floors: number[] = [];
  for (let run = 0; run < (options.runs ?? 3); run++) floors.push(rawInsertFloor(dataDir, join(options.dir, "import-floor.db")));
  const coldSeconds = median(cold);
  const floorSeconds = median(floors);
  const rate = images / coldSeconds;
  const ratio = Math.round((floorSeconds / coldSeconds) * 100) / 100;
  return [
    {
      name: "import floor (JSON.parse + raw insert), images/s",
      value: Math.round(images / floorSeconds),
      unit: "images/s",
      note: `${floorSeconds.toFixed(2)} s (median of ${floors.length})`,
    },
    {
      name: "import cold, images/s",
      value: Math.round(rate),
      unit: "images/s",
      note: `${images} images in ${coldSeconds.toFixed(2)} s (median of ${cold.length})`,
    },
    {
      name: "import cold vs floor",
      value: ratio,
      unit: "× floor rate",
      bar: { op: ">=", value: 0.5, unit: "× floor rate" },
      pass: ratio >= 0.5,
    },
    { name: "import no-change re-import", value: Number(warmSeconds.toFixed(3)), unit: "s", note: "stat of every manifest, nothing read" },
  ];
}

/**
 * The import's floor (SPEC.md §10): `JSON.parse` of every file the import reads, then one
 * prepared INSERT per actor, generation and image (format A's entries with the prompt and
 * rating of prompt_metadata.json) into the same schema, in one transaction: what any importer
 * of these files has to do. Returns its seconds.
 */
function rawInsertFloor(dataDir: string, dbPath: string): number {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
  const db = openStore(dbPath);
  try {
    const started = performance.now();
    const parse = (path: string) => JSON.parse(readFileSync(path, "utf8"));
    const formatA = readdirSync(join(dataDir, "actor_manifests")).map((file) => parse(join(dataDir, "actor_manifests", file)));
    const perActor = new Map<
      string,
      { formatB?: { generations?: Record<string, unknown>[] }; prompts?: Record<string, { prompt?: string; good?: boolean }> }
    >();
    for (const name of readdirSync(join(dataDir, "actors"))) {
      const folder = join(dataDir, "actors", name, "training_data");
      const files = new Set(readdirSync(folder));
      perActor.set(name, {
        formatB: files.has("manifest.json") ? parse(join(folder, "manifest.json")) : undefined,
        prompts: files.has("prompt_metadata.json") ? parse(join(folder, "prompt_metadata.json")) : undefined,
      });
    }
    const client = db.$client;
    const insertActor = client.prepare("INSERT INTO actors (name, character_id) VALUES (?, ?)");
    const insertGeneration = client.prepare(
      "INSERT INTO generations (actor_id, generation_key, type, generated_at, image_count, metadata) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const insertImage = client.prepare(
      `INSERT INTO images (actor_id, filename, local_path, s3_url, md5, size_bytes, modified_timestamp, modified_at, status, prompt, good)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    client.transaction(() => {
      for (const manifest of formatA) {
        const actorId = Number(insertActor.run(manifest.character_name, manifest.character_id).lastInsertRowid);
        const extra = perActor.get(manifest.character_name);
        for (const generation of extra?.formatB?.generations ?? []) {
          insertGeneration.run(
            actorId,
            generation.generation_id,
            generation.type,
            generation.generated_at,
            generation.image_count,
            JSON.stringify(generation.metadata),
          );
        }
        for (const entry of manifest.training_data) {
          const meta = extra?.prompts?.[entry.filename];
          insertImage.run(
            actorId,
            entry.filename,
            entry.local_path,
            entry.s3_url,
            entry.md5_hash,
            entry.size_bytes,
            entry.modified_timestamp,
            entry.modified_date,
            entry.status,
            meta?.prompt ?? null,
            meta?.good === undefined ? null : meta.good ? 1 : 0,
          );
        }
      }
    })();
    return (performance.now() - started) / 1000;
  } finally {
    closeStore(db);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
  }
}
