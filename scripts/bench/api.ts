/**
 * Metadata-scale API benchmark (SPEC.md §10): 10,000 actors × 50 images imported from
 * generated manifests, the real server on a loopback port with its job runner following other
 * processes and its lease heartbeat, requests over HTTP one at a time. Reports p50/p99 of opening an actor's training data and of `stats` across all actors,
 * and `stats` right after a write, each as a ratio to a floor measured in the same run: a bare
 * graphql-yoga server answering the same 50 rows from one prepared statement (bar: p99 ≤ 2×).
 * Cost attacks (SPEC.md §9): 300 aliases of a filter that scans the images table (bar:
 * refused or answered within 1 s), and reads sent meanwhile, during one admitted full
 * scan and during `stats { duplicates }` (bar: each answered within 100 ms).
 */
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { buildSchema } from "graphql";
import { createYoga } from "graphql-yoga";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { cachedStatement } from "../../src/db/statements.ts";
import { closeStore, openStore, type Db } from "../../src/db/store.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { graphqlEndpoint, startServer } from "../../src/server.ts";
import { benchActorName } from "./bench-data.ts";
import { JobRunner } from "../../src/sync/jobs/jobs.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
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
      name characterId descriptor age gender manifestUpdatedAt lastCheckedAt
      statistics { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes }
      trainingImages(first: 100) {
        totalCount
        nodes { filename index s3Key s3Url localPath md5 etag sizeBytes modifiedAt prompt promptPreview generatedAt status good checkedAt generation { type } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }`;

const statsQuery = /* GraphQL */ `
  query Stats {
    stats {
      actorCount fullySyncedActorCount
      images { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes localOnlyBytes goodBytes }
      byStatus { status imageCount sizeBytes }
      byRating { rating imageCount }
      byDescriptor { key actorCount totalCount totalSizeBytes byStatus { status imageCount sizeBytes } byRating { rating imageCount sizeBytes } }
      byGender { key actorCount totalCount localOnlyBytes goodCount }
      byAgeBand { key actorCount totalCount localOnlyBytes goodCount }
      byGenerationType { type actorCount imageCount }
      actorsBelowGoodCount(threshold: 10, first: 20) { count actors { name } }
    }
  }`;

/** The floor's whole schema: an actor's name and its images' scalar fields, as the open-actor query reads them. */
const floorSchemaText = `
  type Query { actor(name: String!): Actor }
  type Actor { name: String! trainingImages: [Image!]! }
  type Image {
    filename: String! index: Int s3Key: String s3Url: String localPath: String md5: String etag: String sizeBytes: Float
    modifiedAt: String prompt: String promptPreview: String generatedAt: String status: String good: Boolean checkedAt: String
  }
`;

const floorQuery = /* GraphQL */ `
  query OpenActor($name: String!) {
    actor(name: $name) {
      name
      trainingImages { filename index s3Key s3Url localPath md5 etag sizeBytes modifiedAt prompt promptPreview generatedAt status good checkedAt }
    }
  }`;

/** The floor (SPEC.md §10): a bare graphql-yoga server answering an actor's rows from one prepared statement. */
async function startBareYoga(db: Db): Promise<Server> {
  const rows = cachedStatement(
    db,
    `SELECT i.filename AS filename, i."index" AS "index", i.s3_key AS s3Key, i.s3_url AS s3Url, i.local_path AS localPath, i.md5 AS md5,
       i.s3_etag AS etag, i.size_bytes AS sizeBytes, i.modified_at AS modifiedAt, i.prompt AS prompt, i.prompt_preview AS promptPreview,
       i.generated_at AS generatedAt, i.status AS status, i.good AS good, i.checked_at AS checkedAt
     FROM images i WHERE i.actor_id = (SELECT a.id FROM actors a WHERE a.name = ?) ORDER BY i."index", i.filename LIMIT 100`,
  );
  const schema = buildSchema(floorSchemaText);
  schema.getQueryType()!.getFields().actor!.resolve = (_root, { name }: { name: string }) => ({ name, trainingImages: rows.all(name) });
  const yoga = createYoga({ schema, graphiql: false, logging: false });
  const server = createServer(yoga);
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  return server;
}

/** The reported attack: 300 aliases of a filename filter that no index serves (27 KB). */
const scanAttackQuery = `{ ${Array.from(
  { length: 300 },
  (_, i) => `a${i}: images(first: 1, filter: { filenameContains: "zz${i}" }) { nodes { filename } }`,
).join(" ")} }`;

/** One scan the cost limit admits: a status filter over every image, counted. */
const fullScanQuery = `{ images(first: 1, filter: { status: [MISSING] }) { totalCount } }`;

/** Exact duplicates across every image: one aggregate over the whole images table. */
const duplicatesQuery = `{ stats { duplicates { groupCount imageCount redundantBytes } } }`;

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
  const app = makeContext(config, openStore(dbPath), silentLogger);
  // As `serve` runs: the job runner follows other processes' changes (a read every 250 ms) and
  // keeps the process lease alive (a write every 2 s) while requests are measured.
  const jobs = new JobRunner(app);
  const ctx = { ...app, jobs };
  jobs.followOtherProcesses();
  const server = await startServer(ctx);
  const floorServer = await startBareYoga(ctx.db);
  try {
    const imported = await importManifests(ctx);
    log(`imported ${imported.actorsImported} actors, ${imported.imagesImported} images`);
    // Start from a settled file, as a long-running server would be: no import WAL left to checkpoint mid-measurement.
    ctx.db.$client.pragma("wal_checkpoint(TRUNCATE)");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${graphqlEndpoint}`;
    const floorUrl = `http://127.0.0.1:${(floorServer.address() as AddressInfo).port}/graphql`;
    const post = async (query: string, variables?: Record<string, unknown>, to = url) => {
      const started = performance.now();
      const response = await fetch(to, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { errors?: unknown[] };
      const elapsed = performance.now() - started;
      if (body.errors) throw new Error(`query failed: ${JSON.stringify(body.errors)}`);
      return elapsed;
    };

    const names = Array.from({ length: requests }, (_, i) => benchActorName((i * 7919) % imported.actorsImported));
    for (const name of names.slice(0, 500)) {
      await post(openActorQuery, { name });
      await post(floorQuery, { name }, floorUrl);
    }
    // Floor and service take turns, so that both meet the same moments of a noisy machine.
    const open: number[] = [];
    const floor: number[] = [];
    for (const name of names) {
      open.push(await post(openActorQuery, { name }));
      floor.push(await post(floorQuery, { name }, floorUrl));
    }
    const stats: number[] = [];
    for (let i = 0; i < Math.min(requests, 500); i++) stats.push(await post(statsQuery));
    // A write makes the next stats recompute what it caches: the first answer after each of many writes.
    const afterWrite: number[] = [];
    for (let i = 0; i < 100; i++) {
      refreshActorStatistics(ctx.db, [1 + ((i * 97) % imported.actorsImported)]);
      afterWrite.push(await post(statsQuery));
    }
    for (const list of [open, floor, stats, afterWrite]) list.sort((a, b) => a - b);
    const floorP99 = percentile(floor, 99);

    const readDuring = (name: string) => post(openActorQuery, { name });
    const attack = await timedWhileReading(url, scanAttackQuery, () => readDuring(names[0]!));
    const scan = await timedWhileReading(url, fullScanQuery, () => readDuring(names[1]!));
    // Not cached: the writes above came after the last duplicates figure.
    const duplicates = await timedWhileReading(url, duplicatesQuery, () => readDuring(names[2]!));
    const figure = (name: string, value: number, bar?: number, note?: string): BenchFigure => ({
      name,
      value: round(value),
      unit: "ms",
      ...(bar !== undefined ? { bar: { op: "<=" as const, value: bar, unit: "ms" }, pass: value < bar } : {}),
      ...(note ? { note } : {}),
    });
    const ratio = (name: string, value: number, note: string): BenchFigure => ({
      name,
      value: Math.round((value / floorP99) * 100) / 100,
      unit: "× floor p99",
      bar: { op: "<=", value: 2, unit: "× floor p99" },
      pass: value <= 2 * floorP99,
      note: `${round(value)} ms; ${note}`,
    });
    return [
      figure("api: floor (bare yoga, one statement) p50", percentile(floor, 50)),
      figure("api: floor (bare yoga, one statement) p99", floorP99, undefined, `${floor.length} requests, ${perActor} rows each`),
      figure("api: open actor training data p50", percentile(open, 50)),
      ratio("api: open actor training data p99", percentile(open, 99), `${open.length} requests, ${perActor} images each`),
      figure("api: stats across all actors p50", percentile(stats, 50)),
      ratio("api: stats across all actors p99", percentile(stats, 99), `${stats.length} requests`),
      figure("api: stats right after a write p50", percentile(afterWrite, 50)),
      ratio("api: stats right after a write p99", percentile(afterWrite, 99), `${afterWrite.length} writes, each followed by stats`),
      figure("api: 300-alias scan attack", attack.elapsed, 1000, attack.refusal ? `refused: ${attack.refusal}` : "answered"),
      figure("api: read during the attack, slowest", attack.slowestRead, 100, `${attack.reads} reads`),
      figure(
        "api: read during a full image scan, slowest",
        scan.slowestRead,
        100,
        `${scan.reads} reads during a ${round(scan.elapsed)} ms scan of ${perActor * imported.actorsImported} images`,
      ),
      figure(
        "api: read during stats { duplicates }, slowest",
        duplicates.slowestRead,
        100,
        `${duplicates.reads} reads during ${round(duplicates.elapsed)} ms`,
      ),
    ];
  } finally {
    await new Promise((resolveClose) => server.close(resolveClose));
    await new Promise((resolveClose) => floorServer.close(resolveClose));
    await jobs.shutdown(0);
    closeStore(ctx.db);
  }
}

/**
 * Sends `query` and, until it is answered, one read after another; reports how long the
 * query took, why it was refused (if it was), and the slowest read.
 */
async function timedWhileReading(url: string, query: string, read: () => Promise<number>) {
  const started = performance.now();
  let answered = false;
  const response = fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) })
    .then((res) => res.json() as Promise<{ errors?: { message: string }[] }>)
    .finally(() => {
      answered = true;
    });
  const reads: number[] = [];
  do reads.push(await read());
  while (!answered);
  const body = await response;
  return { elapsed: performance.now() - started, refusal: body.errors?.[0]?.message, slowestRead: Math.max(...reads), reads: reads.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runApiBench({ dir: resolve(process.env.BENCH_DIR ?? "bench-data") });
  for (const f of figures)
    console.log(
      `${f.name.padEnd(44)} ${String(f.value).padStart(10)} ${f.unit}${f.bar ? `  bar ${f.bar.op} ${f.bar.value} ${f.bar.unit}  ${f.pass ? "PASS" : "FAIL"}` : ""}${f.note ? `  (${f.note})` : ""}`,
    );
}
