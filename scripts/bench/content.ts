/**
 * Content-scale benchmark of audit (SPEC.md §10): 100 actors × 20 images × 300 KB of real
 * files on disk and in a loopback s3rver; cold audit MB/s beside md5sum (one process and
 * two) on the same files, and the speed-up of a second audit of the unchanged tree. The
 * audit is measured as users run it (S3 side from the last listing) and with `--list`.
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
import { auditActors } from "../../src/sync/checks/audit.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { s3KeyOf, s3UrlOf } from "../../src/sync/files/layout.ts";
import { Md5Pool } from "../../src/sync/hashing/md5-pool.ts";
import { createS3Client, ensureBucket, putObjectWithMd5, s3rverCredentials } from "../../src/sync/s3/s3-client.ts";
import { startS3rverProcess } from "../../src/sync/s3/s3rver-process.ts";
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
  /** Bytes hashed / wall time of the whole cold audit (stat, hash, SQLite, manifests). */
  coldAuditMBps: number;
  warmAuditSeconds: number;
  warmSpeedup: number;
  /** The same two audits listing S3 first (`audit --list`). */
  coldListingSeconds: number;
  warmListingSeconds: number;
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
    // paths with the first audit after import, which lists S3 (never listed yet) and fills
    // in the manifests' MD5s.
    await md5sum([files]);
    const first = await auditActors(ctx, s3, { all: true, pool });
    if (first.failed > 0) throw new Error(`first audit failed: ${first.actors.find((a) => !a.ok)?.error}`);
    log(
      `first audit after import: ${first.seconds.toFixed(3)} s, ${first.actors.reduce((n, a) => n + a.manifestsWritten.length, 0)} manifests written`,
    );

    // Each run measures everything in turn, so a burst of load elsewhere hits one run, not one figure.
    const halves = [files.slice(0, Math.ceil(files.length / 2)), files.slice(Math.ceil(files.length / 2))];
    const runsOf = {
      one: [] as number[],
      two: [] as number[],
      cold: [] as number[],
      warm: [] as number[],
      coldListing: [] as number[],
      warmListing: [] as number[],
    };
    const audit = async (label: string, options: { listS3: boolean; expectBytes: number }) => {
      const readBefore = pool.bytesRead;
      const report = await auditActors(ctx, s3, { all: true, pool, listS3: options.listS3 });
      if (report.failed > 0) throw new Error(`${label} failed: ${report.actors.find((a) => !a.ok)?.error}`);
      if (report.counts.synced !== files.length) throw new Error(`${label}: ${report.counts.synced} of ${files.length} images synced`);
      if (pool.bytesRead - readBefore !== options.expectBytes)
        throw new Error(`${label} read ${pool.bytesRead - readBefore} of ${options.expectBytes} bytes expected`);
      return report.seconds;
    };
    for (let run = 0; run < runs; run++) {
      runsOf.one.push(await md5sum([files]));
      runsOf.two.push(await md5sum(halves));
      // The audit as a user runs it: the S3 side as the last listing recorded it. Cold: nothing
      // known from an earlier audit (no hash cache, no S3 MD5, no basis); warm: the same tree again.
      forgetAudits(db);
      runsOf.cold.push(await audit("cold audit", { listS3: false, expectBytes: totalBytes }));
      runsOf.warm.push(await audit("warm audit", { listS3: false, expectBytes: 0 }));
      // The same pair with `--list`: the listing of every key is inside both runs.
      forgetAudits(db);
      runsOf.coldListing.push(await audit("cold audit --list", { listS3: true, expectBytes: totalBytes }));
      runsOf.warmListing.push(await audit("warm audit --list", { listS3: true, expectBytes: 0 }));
      const mbps = (seconds: number) => (totalBytes / 1e6 / seconds).toFixed(0);
      log(
        `run ${run + 1}: md5sum ${mbps(runsOf.one.at(-1)!)} / ${mbps(runsOf.two.at(-1)!)} MB/s (one / two processes), ` +
          `audit cold ${runsOf.cold.at(-1)!.toFixed(3)} s (${mbps(runsOf.cold.at(-1)!)} MB/s), warm ${(runsOf.warm.at(-1)! * 1000).toFixed(1)} ms; ` +
          `with --list cold ${runsOf.coldListing.at(-1)!.toFixed(3)} s, warm ${(runsOf.warmListing.at(-1)! * 1000).toFixed(1)} ms`,
      );
    }
    const md5sumOneMBps = totalBytes / 1e6 / median(runsOf.one);
    const md5sumTwoMBps = totalBytes / 1e6 / median(runsOf.two);
    const coldAuditSeconds = median(runsOf.cold);
    const warmAuditSeconds = median(runsOf.warm);
    const coldAuditMBps = totalBytes / 1e6 / coldAuditSeconds;
    const coldShare = coldAuditMBps / md5sumTwoMBps;
    const warmSpeedup = coldAuditSeconds / warmAuditSeconds;
    const coldListingSeconds = median(runsOf.coldListing);
    const warmListingSeconds = median(runsOf.warmListing);
    const coldListingShare = totalBytes / 1e6 / coldListingSeconds / md5sumTwoMBps;

    const figures: BenchFigure[] = [
      {
        name: "first audit after import (lists S3, hashes all, writes every manifest)",
        value: round(first.seconds * 1000),
        unit: "ms",
        note: "JIT and page cache warming; not in the medians",
      },
      { name: "md5sum, one process", value: round(md5sumOneMBps), unit: "MB/s", note: "warm page cache" },
      { name: "md5sum, two processes (xargs -P2)", value: round(md5sumTwoMBps), unit: "MB/s", note: "warm page cache" },
      {
        name: "cold audit (whole run: stat, hash, SQLite, manifests)",
        value: round(coldAuditMBps),
        unit: "MB/s",
        note: `${pool.threads} hashing threads; S3 side as the last listing recorded it`,
      },
      {
        name: "cold audit / two-process md5sum",
        value: round(coldShare * 100),
        unit: "%",
        bar: { op: ">=", value: 90, unit: "%" },
        pass: coldShare >= 0.9,
      },
      {
        name: "warm audit (unchanged tree)",
        value: round(warmAuditSeconds * 1000),
        unit: "ms",
        note: "0 bytes of file content read; every actor confirmed from its folder digest",
      },
      {
        name: "warm audit speed-up over cold",
        value: round(warmSpeedup),
        unit: "×",
        bar: { op: ">=", value: 20, unit: "×" },
        pass: warmSpeedup >= 20,
      },
      {
        name: "cold audit --list / two-process md5sum",
        value: round(coldListingShare * 100),
        unit: "%",
        note: `${round(totalBytes / 1e6 / coldListingSeconds)} MB/s with the listing of every key inside the run`,
      },
      {
        name: "warm audit --list",
        value: round(warmListingSeconds * 1000),
        unit: "ms",
        note: `${round(coldListingSeconds / warmListingSeconds)}× faster than cold --list; almost all of it is s3rver listing ${files.length} keys`,
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
      coldListingSeconds,
      warmListingSeconds,
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
      entries.push({
        filename,
        local_path: layout.relativeImagePath(name, filename),
        s3_url: s3UrlOf(s3, key),
        size_bytes: bytes.length,
        status: "synced",
      });
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

/** Back to a never-audited state: no cached local MD5, no object MD5 established by an audit, no audit basis to confirm. */
function forgetAudits(db: ReturnType<typeof openStore>): void {
  db.$client.exec(`DELETE FROM hash_cache; DELETE FROM audit_bases; UPDATE images SET s3_md5 = NULL, s3_md5_etag = NULL;`);
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
  const result = await runContentBench({
    actors: arg("--actors"),
    imagesPerActor: arg("--images"),
    bytesPerImage: arg("--bytes"),
    runs: arg("--runs"),
  });
  for (const figure of result.figures) {
    const bar = figure.bar ? `  (bar ${figure.bar.op} ${figure.bar.value} ${figure.bar.unit}: ${figure.pass ? "PASS" : "FAIL"})` : "";
    console.log(`${figure.name}: ${figure.value} ${figure.unit}${bar}${figure.note ? `  [${figure.note}]` : ""}`);
  }
}
