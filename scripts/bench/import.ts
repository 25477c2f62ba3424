/**
 * Metadata-scale import benchmark (SPEC.md §10): 10,000 actors × 50 images of generated
 * manifests, no image files. Reports images/s of a cold import into a fresh SQLite file
 * (bar: over 100,000) and the time of a re-import with nothing changed.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { writeMetadataScale } from "../../src/sync/bench-data.ts";
import { importManifests } from "../../src/sync/import.ts";
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
    log(`generated ${written.actors} actors, ${written.images} images in ${written.files} files (${(written.bytes / 1e6).toFixed(0)} MB) in ${written.seconds.toFixed(1)} s`);
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
  const coldSeconds = median(cold);
  const rate = images / coldSeconds;
  return [
    { name: "import cold, images/s", value: Math.round(rate), unit: "images/s", bar: { op: ">=", value: 100_000, unit: "images/s" }, pass: rate >= 100_000, note: `${images} images in ${coldSeconds.toFixed(2)} s (median of ${cold.length})` },
    { name: "import no-change re-import", value: Number(warmSeconds.toFixed(3)), unit: "s", note: "stat of every manifest, nothing read" },
  ];
}

