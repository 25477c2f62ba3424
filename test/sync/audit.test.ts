import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { actors, type SyncStatus } from "../../src/db/schema.ts";
import { writeActorScan } from "../../src/db/scan-writes.ts";
import { auditCandidates } from "../../src/db/audit-basis.ts";
import type { Comparison } from "../../src/db/comparisons.ts";
import { actorImages, imagePagesByActorIds } from "../../src/db/image-queries.ts";
import { auditActor, auditActors, listingFor } from "../../src/sync/checks/audit.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { Md5Pool } from "../../src/sync/hashing/md5-pool.ts";
import { rateImages } from "../../src/sync/operations/rate-images.ts";
import { scanActor } from "../../src/sync/checks/scan.ts";
import { entryA, writeFormatA } from "../helpers/manifests.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, type World } from "../helpers/world.ts";

const MiB = 1024 * 1024;
const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest("hex");

let server: TestS3Server;
let world: World;
let pool: Md5Pool;
beforeAll(async () => {
  server = await startTestS3Server();
  pool = new Md5Pool();
});
afterAll(async () => {
  await pool.close();
  await server.stop();
});
afterEach(async () => {
  await world?.close();
});

/** A JPEG-looking file of `size` bytes (random after the magic), different for each seed. */
function imageBytes(size = 20_000): Buffer {
  const bytes = randomBytes(size);
  bytes[0] = 0xff;
  bytes[1] = 0xd8;
  bytes[2] = 0xff;
  return bytes;
}

interface ImageSpec {
  /** Bytes on local disk, or absent. */
  local?: Buffer;
  /** Bytes in S3, or absent. */
  s3?: Buffer;
}

/** Writes an actor's format A manifest (every entry says synced), its local files and S3 objects, then imports. */
async function makeActor(characterId: string, name: string, specs: ImageSpec[]): Promise<number> {
  const entries = specs.map((spec, index) => entryA(name, index, { size_bytes: (spec.local ?? spec.s3)?.length ?? 1000 }));
  writeFormatA(world.dataDir, { characterId, name }, entries);
  const folder = world.ctx.layout.trainingDir(name);
  mkdirSync(folder, { recursive: true });
  for (const [index, spec] of specs.entries()) {
    const filename = `${name}_${index}.jpg`;
    if (spec.local) writeFileSync(join(folder, filename), spec.local);
    if (spec.s3) await putObject(name, filename, spec.s3);
  }
  const report = await importManifests(world.ctx);
  expect(report.problems).toEqual([]);
  return world.db.select().from(actors).where(eq(actors.name, name)).get()!.id;
}

/** A new world with actor 0042 whose `count` images are the same on both sides (imported): its id and the images' bytes. */
async function actorOnBothSides(count: number): Promise<{ actorId: number; files: Buffer[] }> {
  world = await createWorld({ server });
  const files = Array.from({ length: count }, () => imageBytes());
  const actorId = await makeActor(
    "0042",
    name,
    files.map((bytes) => ({ local: bytes, s3: bytes })),
  );
  return { actorId, files };
}

async function putObject(name: string, filename: string, body: Buffer, metadata?: Record<string, string>): Promise<void> {
  await world.s3.client.send(
    new PutObjectCommand({ Bucket: world.config.s3.bucket, Key: s3KeyOf(world.config.s3, name, filename), Body: body, Metadata: metadata }),
  );
}

/**
 * Uploads `body` in parts of `partSize`, then gives the object the ETag real S3 would
 * (md5 of the part MD5s, `-N`): s3rver stores the whole object's MD5 instead, in the
 * `…._S3rver_object.md5` file beside the object.
 */
async function putMultipart(
  name: string,
  filename: string,
  body: Buffer,
  partSize: number,
  metadata?: Record<string, string>,
): Promise<string> {
  const { client } = world.s3;
  const Bucket = world.config.s3.bucket;
  const Key = s3KeyOf(world.config.s3, name, filename);
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: metadata }));
  const parts: { ETag: string; PartNumber: number }[] = [];
  const digests: Buffer[] = [];
  for (let offset = 0, PartNumber = 1; offset < body.length; offset += partSize, PartNumber++) {
    const chunk = body.subarray(offset, offset + partSize);
    digests.push(createHash("md5").update(chunk).digest());
    const answer = await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: chunk }));
    parts.push({ ETag: answer.ETag!, PartNumber });
  }
  await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
  const etag = `${md5(Buffer.concat(digests))}-${digests.length}`;
  writeFileSync(join(server.directory, Bucket, `${Key}._S3rver_object.md5`), etag);
  return etag;
}

/** An actor's rows as the service reads them (an image's check time included), by index. */
function rowsOf(actorId: number) {
  return actorImages(world.db, actorId).sort((a, b) => a.index! - b.index!);
}

function statusesOf(actorId: number): (SyncStatus | null)[] {
  return rowsOf(actorId).map((row) => row.status);
}

function formatAEntries(characterId: string): { filename: string; status?: string; md5_hash?: string }[] {
  const manifest = JSON.parse(readFileSync(world.ctx.layout.formatAPath(characterId), "utf8"));
  return manifest.training_data;
}

const name = "0042_east_asian_30_male";
/** Lets file timestamps age past their granularity: a file stamped "now" is racily clean and never trusted by its stat. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe("audit", () => {
  it("tells every status of the table, with the time it was checked, and writes the manifests through", async () => {
    world = await createWorld({ server });
    const same = [imageBytes(), imageBytes(), imageBytes()];
    const localOnly = imageBytes();
    const s3Only = imageBytes();
    const local = imageBytes(30_000);
    const remote = imageBytes(30_000); // same size, other content
    const actorId = await makeActor("0042", name, [
      { local: same[0], s3: same[0] },
      { local: same[1], s3: same[1] },
      { local: same[2], s3: same[2] },
      { local: localOnly },
      { s3: s3Only },
      { local, s3: remote },
      {},
    ]);

    const before = new Date().toISOString();
    const result = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "synced", "local_only", "s3_only", "out_of_sync", "missing"]);
    expect(result.counts).toEqual({ synced: 3, local_only: 1, s3_only: 1, out_of_sync: 1, missing: 1 });

    const rows = rowsOf(actorId);
    for (const row of rows) expect(row.checkedAt! >= before).toBe(true);
    expect(rows[0]).toMatchObject({ md5: md5(same[0]!), s3Md5: md5(same[0]!), localSize: same[0]!.length, s3Size: same[0]!.length });
    expect(rows[3]).toMatchObject({ md5: md5(localOnly), s3Etag: null, s3Md5: null });
    expect(rows[4]).toMatchObject({ md5: md5(s3Only), localSize: null, s3Md5: md5(s3Only) });
    expect(rows[5]).toMatchObject({ md5: md5(local), s3Md5: md5(remote) });
    expect(result.filesHashed).toBe(5);
    expect(result.bytesHashed).toBe(3 * 20_000 + 20_000 + 30_000);

    const actor = world.db.select().from(actors).where(eq(actors.id, actorId)).get()!;
    expect(actor.lastCheckedAt! >= before).toBe(true);
    expect(actor).toMatchObject({ syncedCount: 3, localOnlyCount: 1, s3OnlyCount: 1, outOfSyncCount: 1, missingCount: 1 });

    // Write-through: the exported manifest carries the statuses and the local MD5s.
    const entries = formatAEntries("0042");
    expect(entries.map((entry) => entry.status)).toEqual(["synced", "synced", "synced", "local_only", "s3_only", "out_of_sync", "missing"]);
    expect(entries[0]!.md5_hash).toBe(md5(same[0]!));
    expect(result.manifestsWritten).toContain(world.ctx.layout.formatAPath("0042"));
  });

  it("reads no file content on a second audit of an unchanged tree, and writes no manifest", async () => {
    world = await createWorld({ server });
    const files = Array.from({ length: 6 }, () => imageBytes(50_000));
    const actorId = await makeActor(
      "0042",
      name,
      files.map((bytes) => ({ local: bytes, s3: bytes })),
    );
    await settle();

    const cold = await auditActors(world.ctx, world.s3, { all: true, pool });
    expect(cold.failed).toBe(0);
    expect(cold.bytesHashed).toBe(6 * 50_000);
    const manifestMtime = statSync(world.ctx.layout.formatAPath("0042")).mtimeMs;

    const poolBefore = pool.bytesRead;
    const warm = await auditActors(world.ctx, world.s3, { all: true, pool });
    expect(pool.bytesRead - poolBefore).toBe(0);
    expect(warm).toMatchObject({ failed: 0, bytesHashed: 0, filesHashed: 0, filesFromCache: 6, bytesDownloaded: 0 });
    expect(warm.counts.synced).toBe(6);
    expect(warm.actors[0]!.manifestsWritten).toEqual([]);
    expect(statSync(world.ctx.layout.formatAPath("0042")).mtimeMs).toBe(manifestMtime);
    expect(statusesOf(actorId).every((status) => status === "synced")).toBe(true);
  });

  it("calls a local file edited with the same size out of sync, even with its mtime set back", async () => {
    const { actorId } = await actorOnBothSides(6);
    // Files written within the racily-clean window of the audit would be read again anyway.
    await settle();
    await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(statusesOf(actorId).every((status) => status === "synced")).toBe(true);

    const folder = world.ctx.layout.trainingDir(name);
    // Rewritten with the same size (a new mtime).
    writeFileSync(join(folder, `${name}_1.jpg`), imageBytes());
    // Edited in place with the same size and its mtime put back: same size, mtime and inode.
    const edited = join(folder, `${name}_2.jpg`);
    const { atime, mtime, ino, size } = statSync(edited);
    const bytes = readFileSync(edited);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(edited, bytes);
    utimesSync(edited, atime, mtime);
    expect(statSync(edited)).toMatchObject({ ino, size, mtimeMs: statSync(edited).mtimeMs });
    expect(statSync(edited).mtime.getTime()).toBe(mtime.getTime());

    const poolBefore = pool.bytesRead;
    const result = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(statusesOf(actorId)).toEqual(["synced", "out_of_sync", "out_of_sync", "synced", "synced", "synced"]);
    // Only the two edited files were read again.
    expect(pool.bytesRead - poolBefore).toBe(2 * 20_000);
    expect(result.statusChanges.map((change) => change.to)).toEqual(["out_of_sync", "out_of_sync"]);
    expect(rowsOf(actorId)[2]!.md5).toBe(md5(bytes));
    expect(formatAEntries("0042")[2]!.status).toBe("out_of_sync");
  });

  it("sees an object changed in S3 behind the manifest's back without reading the local file again", async () => {
    const { actorId } = await actorOnBothSides(4);
    await settle();
    await auditActor(world.ctx, world.s3, actorId, { pool });

    await putObject(name, `${name}_3.jpg`, imageBytes());
    const poolBefore = pool.bytesRead;
    await auditActor(world.ctx, world.s3, actorId, { pool, listS3: true });
    expect(pool.bytesRead - poolBefore).toBe(0);
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "synced", "out_of_sync"]);
  });

  it("reads a multipart object whose ETag is not an MD5 as SYNCED, from the local file's multipart ETag", async () => {
    world = await createWorld({ server });
    const big = imageBytes(11 * MiB + 12_345); // 3 parts of 5 MiB (the SDK), 2 of 8 MiB (the AWS CLI)
    const byCli = imageBytes(9 * MiB + 1);
    const changed = imageBytes(11 * MiB + 12_345);
    const withMetadata = imageBytes(6 * MiB);
    const actorId = await makeActor("0042", name, [
      { local: big },
      { local: byCli },
      { local: changed },
      { local: withMetadata },
      { local: imageBytes(), s3: undefined },
    ]);
    const etags = [
      await putMultipart(name, `${name}_0.jpg`, big, 5 * MiB),
      await putMultipart(name, `${name}_1.jpg`, byCli, 8 * MiB),
      // Same size, other content: no part size explains it, so the object is read and differs.
      await putMultipart(name, `${name}_2.jpg`, imageBytes(changed.length), 5 * MiB),
      // Uploaded by this service: the content MD5 is in x-amz-meta-md5.
      await putMultipart(name, `${name}_3.jpg`, withMetadata, 5 * MiB, { md5: md5(withMetadata) }),
    ];
    expect(etags.map((etag) => etag.replace(/^[0-9a-f]{32}/, ""))).toEqual(["-3", "-2", "-3", "-2"]);

    await settle();
    const result = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(result.error).toBeUndefined();
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "out_of_sync", "synced", "local_only"]);
    expect(result.s3Md5Sources).toEqual({ "multipart-etag": 2, download: 1, metadata: 1 });
    expect(result.bytesDownloaded).toBe(changed.length);
    const rows = rowsOf(actorId);
    expect(rows[0]).toMatchObject({ s3Etag: etags[0], s3Md5: md5(big), s3Md5Etag: etags[0], md5: md5(big) });

    // A second audit listing S3 again finds the same listing and the same files: confirmed, nothing read or asked.
    let poolBefore = pool.bytesRead;
    const warm = await auditActor(world.ctx, world.s3, actorId, { pool, listS3: true });
    expect(warm).toMatchObject({ ok: true, unchanged: true, bytesDownloaded: 0, s3Md5Sources: {} });
    expect(pool.bytesRead - poolBefore).toBe(0);

    // With the local-only file rewritten the actor is audited in full; every object's MD5 is
    // known from its unchanged ETag (no HEAD, no download) and only the rewritten file is read.
    writeFileSync(join(world.ctx.layout.trainingDir(name), `${name}_4.jpg`), imageBytes());
    poolBefore = pool.bytesRead;
    const again = await auditActor(world.ctx, world.s3, actorId, { pool, listS3: true });
    expect(again).toMatchObject({ unchanged: false, bytesDownloaded: 0, s3Md5Sources: { verified: 4 } });
    expect(pool.bytesRead - poolBefore).toBe(20_000);
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "out_of_sync", "synced", "local_only"]);
  });

  it("in s3-only mode, tells only present in S3 or MISSING, without looking at local disk", async () => {
    world = await createWorld({ server, env: { STORAGE_MODE: "s3-only" } });
    const files = Array.from({ length: 4 }, () => imageBytes());
    const actorId = await makeActor("0042", name, [{ s3: files[0] }, { s3: files[1] }, { s3: files[2], local: files[2] }, {}]);
    const result = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(result.ok).toBe(true);
    expect(statusesOf(actorId)).toEqual(["s3_only", "s3_only", "s3_only", "missing"]);
    expect(result.filesHashed + result.filesFromCache).toBe(0);
  });

  it("refuses an empty listing as suspect and changes nothing, unless forced", async () => {
    const { actorId } = await actorOnBothSides(4);
    await auditActor(world.ctx, world.s3, actorId, { pool });
    for (let i = 0; i < 4; i++) {
      await world.s3.client.send(
        new DeleteObjectCommand({ Bucket: world.config.s3.bucket, Key: s3KeyOf(world.config.s3, name, `${name}_${i}.jpg`) }),
      );
    }
    const checkedBefore = rowsOf(actorId).map((row) => row.checkedAt);

    const refused = await auditActors(world.ctx, world.s3, { actorIds: [actorId], pool, listS3: true });
    expect(refused.failed).toBe(1);
    expect(refused.actors[0]!.error).toMatch(/S3 listing looks suspect: the listing is empty/);
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "synced", "synced"]);
    expect(rowsOf(actorId).map((row) => row.checkedAt)).toEqual(checkedBefore);

    const forced = await auditActors(world.ctx, world.s3, { actorIds: [actorId], pool, listS3: true, allowSuspect: true });
    expect(forced.failed).toBe(0);
    expect(statusesOf(actorId)).toEqual(["local_only", "local_only", "local_only", "local_only"]);
  });

  it("audits all actors from one listing and reports one failing actor without stopping the others", async () => {
    world = await createWorld({ server });
    const ids: number[] = [];
    for (let a = 0; a < 3; a++) {
      const actorName = `000${a}_european_3${a}_female`;
      const files = Array.from({ length: 3 }, () => imageBytes(5_000));
      ids.push(
        await makeActor(
          `000${a}`,
          actorName,
          files.map((bytes) => ({ local: bytes, s3: bytes })),
        ),
      );
    }
    // The second actor's folder is gone (an unmounted disk looks like this): suspect, refused.
    rmSync(world.ctx.layout.trainingDir("0001_european_31_female"), { recursive: true });
    const progress: number[] = [];
    const report = await auditActors(world.ctx, world.s3, { all: true, pool, onProgress: (p) => progress.push(p.actorsDone) });
    expect(report.failed).toBe(1);
    expect(report.actors.map((actor) => actor.ok)).toEqual([true, false, true]);
    expect(report.actors[1]!.error).toMatch(/local folder looks suspect: the folder does not exist/);
    expect(report.counts.synced).toBe(6);
    expect(progress.at(-1)).toBe(3);
    expect(statusesOf(ids[0]!)).toEqual(["synced", "synced", "synced"]);
  });

  it("lists training images no manifest has as untracked", async () => {
    const { actorId } = await actorOnBothSides(2);
    writeFileSync(join(world.ctx.layout.trainingDir(name), `${name}_9.jpg`), imageBytes());
    await putObject(name, `${name}_8.png`, imageBytes());
    const result = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(result.untrackedLocal).toEqual([`${name}_9.jpg`]);
    expect(result.untrackedS3).toEqual([`${name}_8.png`]);
    unlinkSync(join(world.ctx.layout.trainingDir(name), `${name}_9.jpg`));
  });
});

describe("audit against the last listing (the default)", () => {
  it("takes the S3 side as the last listing recorded it; a scan or --list brings it up to date", async () => {
    const { actorId, files } = await actorOnBothSides(4);
    // Never listed: listed anyway, so the statuses are real.
    const first = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "synced", "synced"]);
    expect(first.s3ListedAt).toBe(first.checkedAt);

    await putObject(name, `${name}_0.jpg`, imageBytes());
    const stale = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(statusesOf(actorId)).toEqual(["synced", "synced", "synced", "synced"]);
    // It says which listing it compared with.
    expect(stale.s3ListedAt).toBe(first.checkedAt);
    expect(stale.checkedAt! > first.checkedAt!).toBe(true);

    const listed = await auditActor(world.ctx, world.s3, actorId, { pool, listS3: true });
    expect(statusesOf(actorId)).toEqual(["out_of_sync", "synced", "synced", "synced"]);
    expect(listed.s3ListedAt).toBe(listed.checkedAt);

    // A scan records the listing; the audit after it compares with that.
    await putObject(name, `${name}_0.jpg`, files[0]!);
    await putObject(name, `${name}_1.jpg`, imageBytes());
    await scanActor(world.ctx, world.s3, actorId);
    const scannedAt = world.db.select().from(actors).where(eq(actors.id, actorId)).get()!.s3ListedAt;
    const afterScan = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(statusesOf(actorId)).toEqual(["synced", "out_of_sync", "synced", "synced"]);
    expect(afterScan.s3ListedAt).toBe(scannedAt);
  });
});

describe("racily clean files (SPEC.md §6)", () => {
  it("trusts no stat taken within the timestamp granularity of a write: such a file is hashed again", async () => {
    world = await createWorld({ server });
    const bytes = imageBytes();
    const actorId = await makeActor("0042", name, [{ local: bytes, s3: bytes }]);
    const path = world.ctx.layout.imagePath(name, `${name}_0.jpg`);
    // A stamp at (or after) the moment of hashing: as if written again in the same tick, unseen.
    const now = Date.now() / 1000;
    utimesSync(path, now, now + 60);
    await auditActor(world.ctx, world.s3, actorId, { pool });
    const again = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(again).toMatchObject({ unchanged: false, filesFromCache: 0 });
    // Once its stamps are older than the granularity, the stat is trusted.
    utimesSync(path, now - 60, now - 60);
    await settle();
    await auditActor(world.ctx, world.s3, actorId, { pool });
    const poolBefore = pool.bytesRead;
    expect(await auditActor(world.ctx, world.s3, actorId, { pool })).toMatchObject({ unchanged: true, filesFromCache: 1 });
    expect(pool.bytesRead - poolBefore).toBe(0);
  });
});

describe("warm audit: an actor unchanged since its last audit", () => {
  it("is confirmed from its folder digest without reading a row or a file, with the time it was checked", async () => {
    world = await createWorld({ server });
    const files = Array.from({ length: 5 }, () => imageBytes());
    const actorId = await makeActor("0042", name, [
      ...files.slice(0, 4).map((bytes) => ({ local: bytes, s3: bytes })),
      { local: files[4] },
    ]);
    await settle();
    const cold = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(cold.unchanged).toBe(false);

    const poolBefore = pool.bytesRead;
    const warm = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(pool.bytesRead - poolBefore).toBe(0);
    expect(warm).toMatchObject({
      ok: true,
      unchanged: true,
      counts: cold.counts,
      bytesTotal: cold.bytesTotal,
      filesFromCache: 5,
      statusChanges: [],
    });
    expect(warm.checkedAt! > cold.checkedAt!).toBe(true);
    expect(rowsOf(actorId).every((row) => row.checkedAt === warm.checkedAt)).toBe(true);
    expect(world.db.select().from(actors).where(eq(actors.id, actorId)).get()!.lastCheckedAt).toBe(warm.checkedAt);
  });

  it("reads every image as checked when its actor was confirmed, writing no image row; an entry added by hand since stays unchecked", async () => {
    const { actorId } = await actorOnBothSides(3);
    await settle();
    const cold = await auditActor(world.ctx, world.s3, actorId, { pool });
    const warm = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(warm.unchanged).toBe(true);
    const ownTimes = () => world.db.$client.prepare("SELECT checked_at FROM images WHERE actor_id = ? ORDER BY id").pluck().all(actorId);
    expect(ownTimes()).toEqual([cold.checkedAt, cold.checkedAt, cold.checkedAt]);
    expect(rowsOf(actorId).map((row) => row.checkedAt)).toEqual([warm.checkedAt, warm.checkedAt, warm.checkedAt]);
    const matching = (checkedAt: Comparison<string>) =>
      imagePagesByActorIds(world.db, [actorId], { checkedAt }, 10)[0]!.rows.map((row) => row.filename);
    expect(matching({ gte: warm.checkedAt! })).toHaveLength(3);
    expect(matching({ lt: warm.checkedAt! })).toEqual([]);

    // An entry added to the manifest and imported since was never checked, though its actor was; the
    // other rows keep what the listing recorded (format A has no ETag), so the audit goes on from it.
    const manifestPath = world.ctx.layout.formatAPath("0042");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    manifest.training_data.push(entryA(name, 3));
    writeFileSync(manifestPath, JSON.stringify(manifest));
    expect((await importManifests(world.ctx)).problems).toEqual([]);
    expect(rowsOf(actorId).map((row) => row.checkedAt)).toEqual([warm.checkedAt, warm.checkedAt, warm.checkedAt, null]);
    expect(matching({ lt: warm.checkedAt! })).toEqual([]);

    const full = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(full.error).toBeUndefined();
    expect(full).toMatchObject({ ok: true, unchanged: false });
    expect(rowsOf(actorId).map((row) => [row.status, row.checkedAt])).toEqual([
      ["synced", full.checkedAt],
      ["synced", full.checkedAt],
      ["synced", full.checkedAt],
      ["missing", full.checkedAt],
    ]);
  });

  it("goes on from the last listing after a re-import, except for an object whose key the manifest moved", async () => {
    const { actorId } = await actorOnBothSides(2);
    expect(await auditActor(world.ctx, world.s3, actorId, { pool, listS3: true })).toMatchObject({ ok: true });
    // Another tool's format B, without ETags: image 0 now at a key no listing has seen, image 1 where it was.
    const key = (i: number) => s3KeyOf(world.config.s3, name, `${name}_${i}.jpg`);
    writeFileSync(
      world.ctx.layout.formatBPath(name),
      JSON.stringify({
        actor_id: name,
        images: { [`${name}_0.jpg`]: { s3_key: `legacy/${key(0)}` }, [`${name}_1.jpg`]: { s3_key: key(1) } },
      }),
    );
    expect((await importManifests(world.ctx)).problems).toEqual([]);
    const audit = await auditActor(world.ctx, world.s3, actorId, { pool });
    expect(audit.error).toBeUndefined();
    expect(statusesOf(actorId)).toEqual(["local_only", "synced"]);
  });

  it("is audited in full again when a file is added, replaced or touched, or when anything changed its rows", async () => {
    const { actorId, files } = await actorOnBothSides(4);
    await settle();
    await auditActor(world.ctx, world.s3, actorId, { pool });
    const folder = world.ctx.layout.trainingDir(name);
    const audit = async () => {
      await settle();
      return auditActor(world.ctx, world.s3, actorId, { pool });
    };

    // A training image no manifest lists: found, and still reported while nothing else changes.
    writeFileSync(join(folder, `${name}_9.jpg`), imageBytes());
    expect(await audit()).toMatchObject({ unchanged: false, untrackedLocal: [`${name}_9.jpg`] });
    expect(await audit()).toMatchObject({ unchanged: true, untrackedLocal: [`${name}_9.jpg`] });

    // Not an image: plays no part.
    writeFileSync(join(folder, "notes.txt"), "hello");
    expect((await audit()).unchanged).toBe(true);

    // A file replaced by another of the same size, then its mtime set back: ctime still moved.
    const edited = join(folder, `${name}_2.jpg`);
    const { atime, mtime } = statSync(edited);
    writeFileSync(edited, imageBytes());
    utimesSync(edited, atime, mtime);
    const replaced = await audit();
    expect(replaced).toMatchObject({ unchanged: false, statusChanges: [{ filename: `${name}_2.jpg`, from: "synced", to: "out_of_sync" }] });

    // A file removed.
    unlinkSync(join(folder, `${name}_3.jpg`));
    expect(await audit()).toMatchObject({
      unchanged: false,
      statusChanges: [{ filename: `${name}_3.jpg`, from: "synced", to: "s3_only" }],
    });
    expect((await audit()).unchanged).toBe(true);

    // Its rows changed by another writer: a rating (the revision moves) ...
    await rateImages(world.ctx, { actor: name, filenames: [`${name}_0.jpg`], good: true });
    expect((await audit()).unchanged).toBe(false);
    expect((await audit()).unchanged).toBe(true);
    // ... or a scan that records what the manifests do not show: an object put again with the
    // same content (a new last-modified) ...
    await new Promise((resolve) => setTimeout(resolve, 1100)); // S3 times have whole seconds
    await putObject(name, `${name}_0.jpg`, files[0]!);
    expect((await scanActor(world.ctx, world.s3, actorId)).changed).toEqual([`${name}_0.jpg`]);
    expect((await audit()).unchanged).toBe(false);
    // ... or an object changed in S3.
    await putObject(name, `${name}_1.jpg`, imageBytes());
    await scanActor(world.ctx, world.s3, actorId);
    const afterScan = await audit();
    expect(afterScan.unchanged).toBe(false);
    expect(statusesOf(actorId)[1]).toBe("out_of_sync");
  });

  it("is audited in full after a scan wrote to its rows, even what moves no revision", async () => {
    const { actorId } = await actorOnBothSides(2);
    await auditActor(world.ctx, world.s3, actorId, { pool });
    const before = world.db.select().from(actors).where(eq(actors.id, actorId)).get()!;
    const row = rowsOf(actorId)[0]!;
    // A column the manifests do not show (what a scan records when it learns an ETag or a stat).
    const written = writeActorScan(world.db, {
      actorId,
      expectedRevision: before.revision,
      checkedAt: new Date().toISOString(),
      inserts: [],
      updates: [{ id: row.id, changes: { s3Etag: "0".repeat(32) } }],
      visible: false,
      forgetsAudit: true,
    });
    expect(written).toBe("written");
    expect(world.db.select().from(actors).where(eq(actors.id, actorId)).get()!.revision).toBe(before.revision);
    expect((await auditActor(world.ctx, world.s3, actorId, { pool })).unchanged).toBe(false);
  });

  it("with --list, takes the listing of every actor only for rows as they were before it began", async () => {
    const { actorId } = await actorOnBothSides(3);
    const candidate = auditCandidates(world.db, [actorId])[0]!;
    // A listing of every actor taken before another process uploaded all three: it shows none of them.
    const before = Promise.resolve(new Map([[name, { objects: [], skipped: [] }]]));
    const objectsFor = listingFor(world.s3, candidate, before);
    expect(await objectsFor(candidate.revision)).toEqual([]);
    // Rows newer than that listing (their revision moved) are compared with a listing of the actor's own.
    expect((await objectsFor(candidate.revision + 1)).map((object) => object.filename).sort()).toEqual(
      [0, 1, 2].map((i) => `${name}_${i}.jpg`),
    );
  });

  it("with --list, is audited in full when the listing changed", async () => {
    const { actorId } = await actorOnBothSides(3);
    await settle();
    await auditActor(world.ctx, world.s3, actorId, { pool });
    const audit = () => auditActor(world.ctx, world.s3, actorId, { pool, listS3: true });
    expect((await audit()).unchanged).toBe(true);
    await putObject(name, `${name}_7.jpg`, imageBytes());
    expect(await audit()).toMatchObject({ unchanged: false, untrackedS3: [`${name}_7.jpg`] });
    expect(await audit()).toMatchObject({ unchanged: true, untrackedS3: [`${name}_7.jpg`] });
    // Without --list the last listing's untracked objects are not reported as if seen now.
    expect(await auditActor(world.ctx, world.s3, actorId, { pool })).toMatchObject({ unchanged: true, untrackedS3: [] });
  });
});
