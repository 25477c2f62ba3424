/**
 * Metadata-scale API benchmark (SPEC.md §10): 10,000 actors × 50 images imported from
 * generated manifests, the real server on a loopback port, requests over HTTP one at a
 * time. Reports p50/p99 of opening an actor's training data (bar: p99 under 10 ms) and of
 * `stats` across all actors (bar: under 20 ms), plus the first `stats` after a write.
 */
import { rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { graphqlEndpoint, startServer } from "../../src/server.ts";
import { benchActorName } from "../../src/sync/bench-data.ts";
import { importManifests } from "../../src/sync/import.ts";
import type { BenchFigure } from "./figures.ts";
import { metadataScaleDataDir } from "./import.ts";

export interface ApiBenchOptions {
  dir: string;
  actors?: number;
  imagesPerActor?: number;
  requests?: number;
  log?: (line: string) => void;
}

const openActorQuery = /* GraphQL */ `
  query OpenActor($name: String!) {
    actor(name: $name) {
      ... on Actor {
        name characterId descriptor age gender manifestUpdatedAt lastCheckedAt
        statistics { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes }
        trainingImages(first: 100) {
          ... on TrainingImageConnection {
            totalCount
            edges { node { filename index s3Key s3Url localPath md5 etag sizeBytes modifiedAt prompt promptPreview generatedAt status good checkedAt generation { type } } }
            pageInfo { hasNextPage endCursor }
          }
        }
      }
      ... on Error { message }
    }
  }`;

const statsQuery = /* GraphQL */ `
  query Stats {
    stats {
      ... on Stats {
        actorCount fullySyncedActorCount
        images { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes }
        byStatus { status imageCount sizeBytes }
        byRating { rating imageCount }
        byDescriptor { key actorCount imageCount }
        byGender { key actorCount imageCount }
        byAgeBand { key actorCount imageCount }
        byGenerationType { type actorCount imageCount }
        actorsBelowGoodCount(threshold: 10, first: 20) { count actors { name } }
      }
    }
  }`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export async function runApiBench(options: ApiBenchOptions): Promise<BenchFigure[]> {
  const actors = options.actors ?? 10_000;
  const perActor = options.imagesPerActor ?? 50;
  const requests = options.requests ?? 2_000;
  const log = options.log ?? ((line: string) => console.error(line));
  const dataDir = metadataScaleDataDir(options.dir, actors, perActor, log);
  const dbPath = join(options.dir, "api-bench.db");
  for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
  const config = loadConfig({ DATA_DIR: dataDir, DB_PATH: dbPath, PORT: "0" });
  const ctx = makeContext(config, openStore(dbPath), silentLogger);
  const server = await startServer(ctx);
  try {
    const imported = await importManifests(ctx);
    log(`imported ${imported.actorsImported} actors, ${imported.imagesImported} images`);
    // Start from a settled file, as a long-running server would be: no import WAL left to checkpoint mid-measurement.
    ctx.db.$client.pragma("wal_checkpoint(TRUNCATE)");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${graphqlEndpoint}`;
    const post = async (query: string, variables?: Record<string, unknown>) => {
      const started = performance.now();
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
      const body = (await response.json()) as { errors?: unknown[] };
      const elapsed = performance.now() - started;
      if (body.errors) throw new Error(`query failed: ${JSON.stringify(body.errors)}`);
      return elapsed;
    };

    // A write makes the next stats recompute its image-table aggregates: measure that first answer too.
    refreshActorStatistics(ctx.db, [1]);
    const coldStats = await post(statsQuery);

    const names = Array.from({ length: requests }, (_, i) => benchActorName((i * 7919) % imported.actorsImported));
    for (const name of names.slice(0, 500)) await post(openActorQuery, { name });
    const open: number[] = [];
    for (const name of names) open.push(await post(openActorQuery, { name }));
    const stats: number[] = [];
    for (let i = 0; i < Math.min(requests, 500); i++) stats.push(await post(statsQuery));
    open.sort((a, b) => a - b);
    stats.sort((a, b) => a - b);
    const figure = (name: string, value: number, bar?: number, note?: string): BenchFigure => ({
      name,
      value: round(value),
      unit: "ms",
      ...(bar !== undefined ? { bar: { op: "<=" as const, value: bar, unit: "ms" }, pass: value < bar } : {}),
      ...(note ? { note } : {}),
    });
    return [
      figure("api: open actor training data p50", percentile(open, 50)),
      figure("api: open actor training data p99", percentile(open, 99), 10, `${open.length} requests, ${perActor} images each`),
      figure("api: stats across all actors p50", percentile(stats, 50)),
      figure("api: stats across all actors p99", percentile(stats, 99), 20, `${stats.length} requests`),
      figure("api: first stats after a write", coldStats, undefined, "no cache: per-actor and per-generation statistics only"),
    ];
  } finally {
    await new Promise((resolveClose) => server.close(resolveClose));
    closeStore(ctx.db);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runApiBench({ dir: resolve(process.env.BENCH_DIR ?? "bench-data") });
  for (const f of figures) console.log(`${f.name.padEnd(44)} ${String(f.value).padStart(10)} ${f.unit}${f.bar ? `  bar < ${f.bar.value} ${f.bar.unit}  ${f.pass ? "PASS" : "FAIL"}` : ""}${f.note ? `  (${f.note})` : ""}`);
}
