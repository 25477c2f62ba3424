/**
 * Content-scale benchmark of audit (SPEC.md §10): 100 actors × 20 images × 300 KB of real
 * files on disk and in a loopback s3rver; cold audit MB/s beside md5sum (one process and
 * two) on the same files, and the speed-up of a second audit of the unchanged tree.
 *
 * The page cache cannot be dropped here (no root), so md5sum runs once over every file
 * first to warm it, and every figure (md5sum's and the audit's) is a warm-cache figure:
 * both sides are measured hashing, not waiting on the disk.
 *
 * Run alone: `npx tsx scripts/bench/content.ts [--actors 100] [--images 20] [--bytes 300000]`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import pLimit from "p-limit";
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { auditActors } from "../../src/sync/audit.ts";
import { importManifests } from "../../src/sync/import.ts";
import { s3KeyOf, s3UrlOf } from "../../src/sync/layout.ts";
import { Md5Pool } from "../../src/sync/md5-pool.ts";
import { createS3Client, ensureBucket, putObjectWithMd5, s3rverCredentials } from "../../src/sync/s3-client.ts";
import { startS3rverProcess } from "../../src/sync/s3rver-process.ts";
import { median, type BenchFigure } from "./figures.ts";

export interface ContentBenchOptions {
  actors?: number;
  imagesPerActor?: number;
  bytesPerImage?: number;
  /** Where to build the data set; default a temp folder, removed afterwards. */
  dir?: string;
  /** Runs of each measurement; the median is reported. Default 5. */
  runs?: number;
  log?: (line: string) => void;
}

export interface ContentBenchResult {
  dataSet: { actors: number; images: number; bytes: number; threads: number };
  md5sumOneMBps: number;
  md5sumTwoMBps: number;
  firstAuditSeconds: number;
  coldAuditSeconds: number;
  /** Bytes hashed / wall time of the whole cold audit (listing, stat, hash, SQLite, manifests). */
  coldAuditMBps: number;
  warmAuditSeconds: number;
  warmSpeedup: number;
  /** Warm audit that takes the S3 side from SQLite (as the last scan recorded it) instead of listing. */
  recordedWarmSeconds: number;
  recordedSpeedup: number;
  figures: BenchFigure[];
}

export async function runContentBench(options: ContentBenchOptions = {}): Promise<ContentBenchResult> {
  const actorCount = options.actors ?? 100;
  const perActor = options.imagesPerActor ?? 20;
  const bytesPerImage = options.bytesPerImage ?? 300_000;
  const runs = options.runs ?? 5;
  const log = options.log ?? ((line: string) => console.error(line));
  const ownDir = options.dir === undefined;
  const root = options.dir ?? mkdtempSync(join(tmpdir(), "am-bench-content-"));
  const dataDir = join(root, "data");
  const server = await startS3rverProcess({ directory: join(root, "s3rver") });
  const config = loadConfig({ DATA_DIR: dataDir, S3_ENDPOINT: server.endpoint, S3_BUCKET: "bench-content", AWS_REGION: "us-west-1" });
  const client = createS3Client(config.s3, { credentials: s3rverCredentials });
  const s3 = { client, s3Config: config.s3 };
  const db = openStore(config.dbPath);
  const ctx = makeContext(config, db, silentLogger);
  const pool = new Md5Pool();
  try {
    log(`content bench: ${actorCount} actors × ${perActor} images × ${bytesPerImage} bytes in ${root}`);
    await ensureBucket(client, config.s3.bucket);
    const files = await buildDataSet(ctx.layout, config.s3, client, { actorCount, perActor, bytesPerImage }, dataDir);
    const totalBytes = files.length * bytesPerImage;
    const imported = await importManifests(ctx);
    if (imported.problems.length > 0) throw new Error(`import problems: ${JSON.stringify(imported.problems.slice(0, 3))}`);

    // Warm the page cache for everyone (md5sum once over every file), and the audit's code
    // paths with the first audit after import, which also fills in the manifests' MD5s.
    await md5sum([files]);
    const first = await auditActors(ctx, s3, { all: true, pool });
    if (first.failed > 0) throw new Error(`first audit failed: ${first.actors.find((a) => !a.ok)?.error}`);
    log(`first audit after import: ${first.seconds.toFixed(3)} s, ${first.actors.reduce((n, a) => n + a.manifestsWritten.length, 0)} manifests written`);

    // Each run measures everything in turn, so a burst of load elsewhere hits one run, not one figure.
    const halves = [files.slice(0, Math.ceil(files.length / 2)), files.slice(Math.ceil(files.length / 2))];
    const runsOf = { one: [] as number[], two: [] as number[], cold: [] as number[], warm: [] as number[], coldRecorded: [] as number[], recorded: [] as number[] };
    for (let run = 0; run < runs; run++) {
      runsOf.one.push(await md5sum([files]));
      runsOf.two.push(await md5sum(halves));
      // Cold: no hash cache and no MD5 established for any object.
      forgetAudits(db);
      const cold = await auditActors(ctx, s3, { all: true, pool });
      if (cold.failed > 0) throw new Error(`cold audit failed: ${cold.actors.find((a) => !a.ok)?.error}`);
      if (cold.bytesHashed !== totalBytes) throw new Error(`cold audit hashed ${cold.bytesHashed} of ${totalBytes} bytes`);
      const readBefore = pool.bytesRead;
      const warm = await auditActors(ctx, s3, { all: true, pool });
      if (warm.failed > 0) throw new Error(`warm audit failed: ${warm.actors.find((a) => !a.ok)?.error}`);
      // The content check right after a scan: the S3 side as recorded, no listing.
      const recorded = await auditActors(ctx, s3, { all: true, pool, listS3: false });
      if (recorded.failed > 0) throw new Error(`warm audit without listing failed: ${recorded.actors.find((a) => !a.ok)?.error}`);
      if (pool.bytesRead !== readBefore) throw new Error(`warm audits read ${pool.bytesRead - readBefore} bytes of file content`);
      // The same pair as the content check right after a scan: cold (hash everything), then warm.
      forgetAudits(db);
      const coldRecorded = await auditActors(ctx, s3, { all: true, pool, listS3: false });
      if (coldRecorded.bytesHashed !== totalBytes) throw new Error(`cold audit without listing hashed ${coldRecorded.bytesHashed} of ${totalBytes} bytes`);
      runsOf.coldRecorded.push(coldRecorded.seconds);
      runsOf.cold.push(cold.seconds);
      runsOf.warm.push(warm.seconds);
      runsOf.recorded.push(recorded.seconds);
      log(
        `run ${run + 1}: md5sum ${(totalBytes / 1e6 / runsOf.one.at(-1)!).toFixed(0)} / ${(totalBytes / 1e6 / runsOf.two.at(-1)!).toFixed(0)} MB/s (one / two processes), ` +
          `cold audit ${cold.seconds.toFixed(3)} s (${(totalBytes / 1e6 / cold.seconds).toFixed(0)} MB/s), ` +
          `warm ${warm.seconds.toFixed(3)} s listing S3; without listing cold ${coldRecorded.seconds.toFixed(3)} s, warm ${recorded.seconds.toFixed(3)} s; ${warm.counts.synced} synced`,
      );
    }
    const md5sumOneMBps = totalBytes / 1e6 / median(runsOf.one);
    const md5sumTwoMBps = totalBytes / 1e6 / median(runsOf.two);
    const coldAuditSeconds = median(runsOf.cold);
    const warmAuditSeconds = median(runsOf.warm);
    const coldAuditMBps = totalBytes / 1e6 / coldAuditSeconds;
    const warmSpeedup = coldAuditSeconds / warmAuditSeconds;
    const recordedWarmSeconds = median(runsOf.recorded);
    const recordedColdSeconds = median(runsOf.coldRecorded);
    const recordedSpeedup = recordedColdSeconds / recordedWarmSeconds;
    const coldShare = coldAuditMBps / md5sumTwoMBps;
    const recordedColdShare = totalBytes / 1e6 / recordedColdSeconds / md5sumTwoMBps;

    const figures: BenchFigure[] = [
      { name: "first audit after import (hashes all, writes every manifest)", value: round(first.seconds * 1000), unit: "ms", note: "JIT and page cache warming; not in the medians" },
      { name: "md5sum, one process", value: round(md5sumOneMBps), unit: "MB/s", note: "warm page cache" },
      { name: "md5sum, two processes (xargs -P2)", value: round(md5sumTwoMBps), unit: "MB/s", note: "warm page cache" },
      {
        name: "cold audit (whole run: listing, stat, hash, SQLite, manifests)",
        value: round(coldAuditMBps),
        unit: "MB/s",
        note: `${round(coldShare * 100)} % of two-process md5sum; ${pool.threads} hashing threads`,
      },
      {
        name: "cold audit / two-process md5sum",
        value: round(coldShare * 100),
        unit: "%",
        bar: { op: ">=", value: 70, unit: "%" },
        pass: coldShare >= 0.7,
      },
      { name: "warm audit, listing S3 (unchanged tree)", value: round(warmAuditSeconds * 1000), unit: "ms", note: "0 bytes of file content read" },
      {
        name: "warm audit speed-up over cold, listing S3",
        value: round(warmSpeedup),
        unit: "×",
        bar: { op: ">=", value: 20, unit: "×" },
        pass: warmSpeedup >= 20,
        note: "the listing of every key is in both runs",
      },
      {
        name: "cold audit, S3 side as last recorded (--no-list) / two-process md5sum",
        value: round(recordedColdShare * 100),
        unit: "%",
        bar: { op: ">=", value: 70, unit: "%" },
        pass: recordedColdShare >= 0.7,
        note: `${round(totalBytes / 1e6 / recordedColdSeconds)} MB/s: the content check after a scan, no listing in the way`,
      },
      { name: "warm audit, S3 side as last recorded (--no-list)", value: round(recordedWarmSeconds * 1000), unit: "ms", note: "no S3 request, 0 bytes read" },
      {
        name: "warm audit speed-up over cold, both --no-list",
        value: round(recordedSpeedup),
        unit: "×",
        bar: { op: ">=", value: 20, unit: "×" },
        pass: recordedSpeedup >= 20,
      },
    ];
    return {
      dataSet: { actors: actorCount, images: files.length, bytes: totalBytes, threads: availableParallelism() },
      md5sumOneMBps,
      md5sumTwoMBps,
      firstAuditSeconds: first.seconds,
      coldAuditSeconds,
      coldAuditMBps,
      warmAuditSeconds,
      warmSpeedup,
      recordedWarmSeconds,
      recordedSpeedup,
      figures,
    };
  } finally {
    await pool.close();
    closeStore(db);
    client.destroy();
    await server.stop();
    if (ownDir) rmSync(root, { recursive: true, force: true });
  }
}

/** Writes the actors' format A manifests and image files, and puts every image in S3 (with x-amz-meta-md5). */
async function buildDataSet(
  layout: ReturnType<typeof makeContext>["layout"],
  s3: ReturnType<typeof loadConfig>["s3"],
  client: ReturnType<typeof createS3Client>,
  size: { actorCount: number; perActor: number; bytesPerImage: number },
  dataDir: string,
): Promise<string[]> {
  const descriptors = ["european", "east_asian", "african", "south_asian", "latin"];
  const files: string[] = [];
  const uploads = pLimit(16);
  const pending: Promise<unknown>[] = [];
  for (let a = 0; a < size.actorCount; a++) {
    const characterId = String(a).padStart(4, "0");
    const name = `${characterId}_${descriptors[a % descriptors.length]}_${20 + (a % 50)}_${a % 2 ? "female" : "male"}`;
    const folder = layout.trainingDir(name);
    mkdirSync(folder, { recursive: true });
    const entries = [];
    for (let i = 0; i < size.perActor; i++) {
      const filename = `${name}_${i}.jpg`;
      const bytes = randomBytes(size.bytesPerImage);
      bytes.set([0xff, 0xd8, 0xff, 0xe0], 0);
      const path = join(folder, filename);
      writeFileSync(path, bytes);
      files.push(path);
      const key = s3KeyOf(s3, name, filename);
      pending.push(uploads(() => putObjectWithMd5(client, s3.bucket, key, bytes)));
      entries.push({ filename, local_path: layout.relativeImagePath(name, filename), s3_url: s3UrlOf(s3, key), size_bytes: bytes.length, status: "synced" });
    }
    mkdirSync(layout.manifestsDir, { recursive: true });
    writeFileSync(
      layout.formatAPath(characterId),
      `${JSON.stringify({ character_id: characterId, character_name: name, training_data: entries, statistics: {} }, null, 2)}\n`,
    );
  }
  await Promise.all(pending);
  void dataDir;
  return files;
}

/** Back to a never-audited state: no cached local MD5, no object MD5 established by an audit. */
function forgetAudits(db: ReturnType<typeof openStore>): void {
  db.$client.exec(`DELETE FROM hash_cache; UPDATE images SET s3_md5 = NULL, s3_md5_etag = NULL;`);
}

/** Seconds for md5sum over each group of files, the groups in parallel processes. */
async function md5sum(groups: string[][]): Promise<number> {
  const started = performance.now();
  await Promise.all(
    groups.map(
      (group) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn("md5sum", group, { stdio: ["ignore", "ignore", "inherit"] });
          child.on("error", reject);
          child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`md5sum exited with ${code}`))));
        }),
    ),
  );
  return (performance.now() - started) / 1000;
}


function round(value: number): number {
  return Math.round(value * 10) / 10;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const arg = (flag: string) => {
    const index = process.argv.indexOf(flag);
    return index >= 0 ? Number(process.argv[index + 1]) : undefined;
  };
  const result = await runContentBench({ actors: arg("--actors"), imagesPerActor: arg("--images"), bytesPerImage: arg("--bytes"), runs: arg("--runs") });
  for (const figure of result.figures) {
    const bar = figure.bar ? `  (bar ${figure.bar.op} ${figure.bar.value} ${figure.bar.unit}: ${figure.pass ? "PASS" : "FAIL"})` : "";
    console.log(`${figure.name}: ${figure.value} ${figure.unit}${bar}${figure.note ? `  [${figure.note}]` : ""}`);
  }
}
