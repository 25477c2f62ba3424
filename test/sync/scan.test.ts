import { readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { actors, generations, type ImageRow } from "../../src/db/schema.ts";
import { planActorScan } from "../../src/sync/checks/scan-plan.ts";
import { discoverActors, listEveryActorOnce, scanActor, scanActors } from "../../src/sync/checks/scan.ts";
import { addImages } from "../../src/sync/operations/add-images.ts";
import { bytesFor, deleteImageObject, makeActor, md5Of, putImage } from "../helpers/actors.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, imageRowsByFilename, type World, type WorldOptions } from "../helpers/world.ts";

let server: TestS3Server;
const worlds: World[] = [];
beforeAll(async () => {
  server = await startTestS3Server();
});
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.close();
});
afterAll(async () => {
  await server?.stop();
});

async function world(options: Omit<WorldOptions, "server"> = {}): Promise<World> {
  const w = await createWorld({ server, ...options });
  worlds.push(w);
  return w;
}

function statuses(w: World, actorId: number): Record<string, string | null> {
  return Object.fromEntries([...imageRowsByFilename(w, actorId)].map(([filename, row]) => [filename, row.status]));
}

function formatA(w: World, characterId: string): { training_data: Record<string, unknown>[]; [key: string]: unknown } {
  return JSON.parse(readFileSync(w.ctx.layout.formatAPath(characterId), "utf8"));
}

const A = "0001_european_30_male";
const f = (i: number | string) => `${A}_${i}.jpg`;

describe("scan, mirrored", () => {
  it("reaches every status stat can tell, adds orphans and writes the manifest through", async () => {
    const w = await world();
    const sameSize = bytesFor("other content, same size"); // 2,048 bytes like every default fixture
    const actor = await makeActor(w, {
      name: A,
      images: [
        { local: true, s3: true }, // 0 SYNCED, stays
        { local: true, s3: true }, // 1 SYNCED, stays
        { local: true, s3: true }, // 2 SYNCED, stays
        { local: true }, // 3 LOCAL_ONLY
        { s3: true }, // 4 S3_ONLY
        { local: true, s3: bytesFor("longer", 3000), status: "synced" }, // 5 sizes differ → OUT_OF_SYNC
        { local: true, s3: sameSize, status: "synced" }, // 6 ETag is not the manifest MD5 → OUT_OF_SYNC
        { status: "missing" }, // 7 MISSING, stays
        { local: true, inManifest: false }, // 8 orphan file → LOCAL_ONLY
        { s3: true, inManifest: false }, // 9 orphan object → S3_ONLY, generation s3_scan
        { local: true, s3: true, inManifest: false }, // 10 orphan on both sides, same size → audit
        { local: true, s3: true, status: "local_only" }, // 11 now on both sides: plain ETag = manifest MD5 → SYNCED
      ],
    });
    const before = w.db.select().from(actors).where(eq(actors.id, actor.id)).get()!;
    expect(before.lastCheckedAt).toBeNull();

    const result = await scanActor(w.ctx, w.s3, actor.id);
    expect(result.outcome).toBe("scanned");
    expect(statuses(w, actor.id)).toEqual({
      [f(0)]: "synced",
      [f(1)]: "synced",
      [f(2)]: "synced",
      [f(3)]: "local_only",
      [f(4)]: "s3_only",
      [f(5)]: "out_of_sync",
      [f(6)]: "out_of_sync",
      [f(7)]: "missing",
      [f(8)]: "local_only",
      [f(9)]: "s3_only",
      [f(10)]: null,
      [f(11)]: "synced",
    });
    expect(result.added).toEqual([f(10), f(8), f(9)].sort());
    expect(result.needsAudit).toEqual([f(10)]);
    expect(result.objectsListed).toBe(9);
    expect(result.localFiles).toBe(9);
    expect(result.counts).toEqual({ synced: 4, local_only: 2, s3_only: 2, out_of_sync: 2, missing: 1, unchecked: 1 });

    const after = imageRowsByFilename(w, actor.id);
    expect(after.get(f(8))).toMatchObject({
      orphan: true,
      source: "local_scan",
      generationId: null,
      localPath: `data/actors/${A}/training_data/${f(8)}`,
    });
    expect(after.get(f(0))).toMatchObject({ orphan: false, s3Etag: md5Of(actor.contents.get(f(0))!), s3Size: 2048, localSize: 2048 });
    const scanGeneration = w.db.select().from(generations).where(eq(generations.actorId, actor.id)).all();
    expect(scanGeneration).toHaveLength(1);
    expect(scanGeneration[0]).toMatchObject({ type: "s3_scan", imageCount: 2 });
    expect(after.get(f(9))).toMatchObject({
      orphan: true,
      source: "s3_scan",
      generationId: scanGeneration[0]!.id,
      s3Key: `system_actors/training_data/${A}/${f(9)}`,
    });
    expect(after.get(f(10))!.generationId).toBe(scanGeneration[0]!.id);

    const checked = w.db.select().from(actors).where(eq(actors.id, actor.id)).get()!;
    expect(checked.lastCheckedAt).not.toBeNull();
    expect([...after.values()].every((row) => row.checkedAt === checked.lastCheckedAt)).toBe(true);
    expect(checked.outOfSyncCount).toBe(2);

    // Write-through: the format A manifest carries what the scan learned, orphans included.
    const manifest = formatA(w, "0001");
    const byName = new Map(manifest.training_data.map((entry) => [entry.filename, entry]));
    expect(byName.get(f(5))).toMatchObject({ status: "out_of_sync" });
    expect(byName.get(f(11))).toMatchObject({ status: "synced" });
    expect(byName.has(f(9))).toBe(true);
    expect(result.exportProblems).toEqual([]);
  });

  it("marks what went away and what changed, and leaves what stat cannot decide to audit", async () => {
    const w = await world();
    const actor = await makeActor(w, { name: A, images: Array.from({ length: 10 }, () => ({ local: true, s3: true })) });
    expect((await scanActor(w.ctx, w.s3, actor.id)).outcome).toBe("scanned");
    expect(Object.values(statuses(w, actor.id)).every((s) => s === "synced")).toBe(true);

    await deleteImageObject(w, A, f(0)); // → LOCAL_ONLY
    rmSync(w.ctx.layout.imagePath(A, f(1))); // → S3_ONLY
    await deleteImageObject(w, A, f(2));
    rmSync(w.ctx.layout.imagePath(A, f(2))); // → MISSING
    await putImage(w, A, f(3), bytesFor("changed in S3 behind the manifest's back")); // same size, new ETag → OUT_OF_SYNC
    const touched = w.ctx.layout.imagePath(A, f(4));
    utimesSync(touched, new Date("2030-01-01T00:00:00Z"), new Date("2030-01-01T00:00:00Z")); // same bytes, new mtime → audit
    const edited = w.ctx.layout.imagePath(A, f(5));
    writeFileSync(edited, bytesFor("edited locally, same size")); // same size, new content → audit (stat cannot see content)
    utimesSync(edited, new Date("2030-01-02T00:00:00Z"), new Date("2030-01-02T00:00:00Z"));

    const result = await scanActor(w.ctx, w.s3, actor.id);
    expect(result.outcome).toBe("scanned");
    expect(statuses(w, actor.id)).toEqual({
      [f(0)]: "local_only",
      [f(1)]: "s3_only",
      [f(2)]: "missing",
      [f(3)]: "out_of_sync",
      [f(4)]: null,
      [f(5)]: null,
      [f(6)]: "synced",
      [f(7)]: "synced",
      [f(8)]: "synced",
      [f(9)]: "synced",
    });
    expect(result.removedFromS3).toEqual([f(0), f(2)]);
    expect(result.removedLocally).toEqual([f(1), f(2)]);
    expect(result.changed.sort()).toEqual([f(3), f(4), f(5)]);
    expect(result.needsAudit.sort()).toEqual([f(4), f(5)]);
    const after = imageRowsByFilename(w, actor.id);
    // The local MD5 no longer describes the changed file: cleared until audit hashes it.
    expect(after.get(f(5))!.md5).toBeNull();
    expect(after.get(f(3))!.s3Etag).toBe(md5Of(bytesFor("changed in S3 behind the manifest's back")));
    expect(after.get(f(3))!.md5).toBe(md5Of(actor.contents.get(f(3))!));
    expect(after.get(f(5))!.localMtimeMs).toBe(Date.parse("2030-01-02T00:00:00Z"));

    // A second scan of the unchanged state changes nothing and writes no manifest.
    const revision = w.db.select().from(actors).where(eq(actors.id, actor.id)).get()!.revision;
    const again = await scanActor(w.ctx, w.s3, actor.id);
    expect(again).toMatchObject({ outcome: "scanned", added: [], changed: [], removedFromS3: [], removedLocally: [], statusChanges: [] });
    expect(again.exportedFiles).toEqual([]);
    expect(w.db.select().from(actors).where(eq(actors.id, actor.id)).get()!.revision).toBe(revision);
    expect(statuses(w, actor.id)[f(4)]).toBeNull();
  });

  it("scans a prefix of more than 1,000 objects", async () => {
    const w = await world();
    const actor = await makeActor(w, {
      name: A,
      images: Array.from({ length: 1_050 }, (_, i) => ({ s3: Buffer.from(`object ${i}`), inManifest: i < 50, status: "s3_only" as const })),
    });
    const result = await scanActor(w.ctx, w.s3, actor.id);
    expect(result).toMatchObject({ outcome: "scanned", objectsListed: 1_050 });
    expect(result.added).toHaveLength(1_000);
    expect(result.counts.s3_only).toBe(1_050);
    expect(w.db.select().from(generations).where(eq(generations.actorId, actor.id)).get()).toMatchObject({
      type: "s3_scan",
      imageCount: 1_000,
    });
  });
});

describe("scan, s3-only", () => {
  it("has no local side: every image is S3_ONLY or MISSING, local files are ignored", async () => {
    const w = await world({ env: { STORAGE_MODE: "s3-only" } });
    const actor = await makeActor(w, {
      name: A,
      images: [
        { s3: true },
        { s3: true },
        { s3: true },
        { local: true },
        { s3: true, inManifest: false },
        { local: true, inManifest: false },
      ],
    });
    const result = await scanActor(w.ctx, w.s3, actor.id);
    expect(result).toMatchObject({ outcome: "scanned", localFiles: null, added: [f(4)] });
    expect(statuses(w, actor.id)).toEqual({
      [f(0)]: "s3_only",
      [f(1)]: "s3_only",
      [f(2)]: "s3_only",
      [f(3)]: "missing",
      [f(4)]: "s3_only",
    });
    const manifest = formatA(w, "0001");
    // The s3-only variant gets no status or local fields it never had.
    expect(manifest.training_data.every((entry) => !("local_path" in entry) && !("status" in entry))).toBe(true);
  });
});

describe("suspect listings", () => {
  it("refuses an empty S3 listing, and applies it only when allowed", async () => {
    const w = await world();
    const actor = await makeActor(w, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
    for (const filename of actor.filenames) await deleteImageObject(w, A, filename);

    const refused = await scanActor(w.ctx, w.s3, actor.id);
    expect(refused.outcome).toBe("suspect");
    expect(refused.error).toMatch(
      /S3 listing looks suspect: the listing of .* is empty, but 4 images were there when last checked \(wrong bucket, prefix or credentials\?\)/,
    );
    expect(refused.error).toMatch(/--allow-suspect/);
    expect(Object.values(statuses(w, actor.id))).toEqual(["synced", "synced", "synced", "synced"]);
    expect(w.db.select().from(actors).where(eq(actors.id, actor.id)).get()!.lastCheckedAt).toBeNull();

    const allowed = await scanActor(w.ctx, w.s3, actor.id, { allowSuspect: true });
    expect(allowed.outcome).toBe("scanned");
    expect(Object.values(statuses(w, actor.id))).toEqual(["local_only", "local_only", "local_only", "local_only"]);
  });

  it("refuses a listing that removes more than the allowed share, and a missing local folder", async () => {
    const w = await world();
    const actor = await makeActor(w, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
    for (const filename of actor.filenames.slice(0, 3)) await deleteImageObject(w, A, filename);
    const tooMany = await scanActor(w.ctx, w.s3, actor.id);
    expect(tooMany.outcome).toBe("suspect");
    expect(tooMany.error).toMatch(/S3 listing looks suspect: 3 of 4 images would be marked gone \(limit 50 %\)/);

    const other = await world();
    const moved = await makeActor(other, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
    rmSync(other.ctx.layout.trainingDir(A), { recursive: true });
    const unmounted = await scanActor(other.ctx, other.s3, moved.id);
    expect(unmounted.outcome).toBe("suspect");
    expect(unmounted.error).toMatch(
      /local folder looks suspect: the folder does not exist, but 4 images were there when last checked \(unmounted disk/,
    );
    expect(Object.values(statuses(other, moved.id))).toEqual(["synced", "synced", "synced", "synced"]);
  });

  it("takes the share from configuration", async () => {
    const w = await world({ env: { MAX_REMOVE_SHARE: "0.8" } });
    const actor = await makeActor(w, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
    for (const filename of actor.filenames.slice(0, 3)) await deleteImageObject(w, A, filename);
    expect((await scanActor(w.ctx, w.s3, actor.id)).outcome).toBe("scanned");
  });
});

describe("one listing of every actor", () => {
  it("lists an actor again on its own when another writer moved it after the listing was taken", async () => {
    const w = await world();
    const actor = await makeActor(w, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
    const every = listEveryActorOnce(w.ctx, w.s3);
    expect((await every.listings) as Map<string, unknown>).toBeInstanceOf(Map);
    // Another process adds (uploads and records) an image the listing cannot show.
    const added = await addImages(w.ctx, w.s3, { actor: A, images: [{ filename: f(9), bytes: bytesFor("added by another process") }] });
    expect(added.failedSteps).toBe(0);
    const result = await scanActor(w.ctx, w.s3, actor.id, {}, every);
    expect(result).toMatchObject({ outcome: "scanned", objectsListed: 5, removedFromS3: [] });
    expect(statuses(w, actor.id)[f(9)]).toBe("synced");
    // Unmoved, the actor's part of the listing is used as it is: no request of its own.
    const again = listEveryActorOnce(w.ctx, w.s3);
    await again.listings;
    await deleteImageObject(w, A, f(9));
    expect(await scanActor(w.ctx, w.s3, actor.id, {}, again)).toMatchObject({ objectsListed: 5, removedFromS3: [] });
  });

  it("lists on its own an actor another process added while the listing was taken, not only one it moved", async () => {
    const w = await world();
    const B = "0002_african_40_female";
    const every = listEveryActorOnce(w.ctx, w.s3);
    await every.listings;
    // Another process imports B (its images already in S3) and adds one the listing cannot show.
    const actor = await makeActor(w, { name: B, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
    expect(
      (await addImages(w.ctx, w.s3, { actor: B, images: [{ filename: `${B}_9.jpg`, bytes: bytesFor("added meanwhile") }] })).failedSteps,
    ).toBe(0);
    expect(await discoverActors(w.ctx, every)).toEqual([]);
    expect(await scanActor(w.ctx, w.s3, actor.id, {}, every)).toMatchObject({ outcome: "scanned", objectsListed: 5, removedFromS3: [] });
    expect(statuses(w, actor.id)[`${B}_9.jpg`]).toBe("synced");
  });
});

describe("faults", () => {
  const names = ["0001_european_30_male", "0002_african_40_female", "0003_east_asian_25_male"];

  async function faultyWorld(decide: Parameters<typeof startFaultProxy>[1], maxAttempts?: number) {
    const proxy = await startFaultProxy(server.endpoint, decide);
    const w = await world({ endpoint: proxy.endpoint, clientOptions: maxAttempts ? { maxAttempts } : {} });
    const made = [];
    for (const name of names) made.push(await makeActor(w, { name, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) }));
    for (const actor of made) await deleteImageObject(w, actor.name, actor.filenames[0]!);
    proxy.seen.length = 0;
    proxy.faults = 0;
    return { proxy, w, made };
  }

  it("finishes when S3 answers 503 SlowDown / 500 to part of the requests (retried)", async () => {
    // The first attempt of every listing fails, with 503 SlowDown and 500 in turn.
    let n = 0;
    const { proxy, w, made } = await faultyWorld((r) =>
      r.attempt === 1 && r.url.includes("list-type=2")
        ? n++ % 2 === 0
          ? { status: 503, code: "SlowDown" }
          : { status: 500, code: "InternalError" }
        : null,
    );
    try {
      // All actors (one listing of every prefix), then some of them (a listing each).
      for (const selection of [{ all: true }, { actorIds: made.map((actor) => actor.id) }]) {
        const faultsBefore = proxy.faults;
        const report = await scanActors(w.ctx, w.s3, selection);
        expect(proxy.faults).toBeGreaterThan(faultsBefore);
        expect(report).toMatchObject({ scanned: 3, failed: 0, suspect: 0 });
        for (const result of report.actors) expect(result.removedFromS3).toEqual("all" in selection ? [`${result.name}_0.jpg`] : []);
      }
    } finally {
      await proxy.stop();
    }
  });

  it("reports an actor whose listing keeps failing, and marks nothing of it deleted", async () => {
    // The listing of every prefix fails too: each actor then lists its own, and only one of those fails.
    const failing = [encodeURIComponent(`system_actors/training_data/${names[1]}/`), encodeURIComponent("system_actors/training_data/")];
    const { proxy, w, made } = await faultyWorld(
      (r) =>
        failing.some((prefix) => new RegExp(`[?&]prefix=${prefix}(&|$)`).test(r.url))
          ? { status: 500, code: "InternalError", message: "disk on fire" }
          : null,
      2,
    );
    try {
      const progress: string[] = [];
      const report = await scanActors(w.ctx, w.s3, {
        all: true,
        onProgress: (done, total, r) => progress.push(`${done}/${total} ${r.outcome}`),
      });
      expect(report).toMatchObject({ scanned: 2, failed: 1 });
      const failed = report.actors.find((a) => a.outcome === "failed")!;
      expect(failed.name).toBe(names[1]);
      expect(failed.error).toMatch(/InternalError \(HTTP 500, after 2 attempts\)/);
      expect(Object.values(statuses(w, made[1]!.id))).toEqual(["synced", "synced", "synced", "synced"]);
      expect(w.db.select().from(actors).where(eq(actors.id, made[1]!.id)).get()!.lastCheckedAt).toBeNull();
      expect(statuses(w, made[0]!.id)[`${names[0]}_0.jpg`]).toBe("local_only");
      // Actors finish in any order: three progress calls, counting up, one of them the failure.
      expect(progress.map((line) => line.split(" ")[0]).sort()).toEqual(["1/3", "2/3", "3/3"]);
      expect(progress.map((line) => line.split(" ")[1]).sort()).toEqual(["failed", "scanned", "scanned"]);
    } finally {
      await proxy.stop();
    }
  });

  it("scanning all actors, reports each one when the listing of every prefix keeps failing, and marks nothing deleted", async () => {
    const { proxy, w, made } = await faultyWorld(
      (r) => (r.url.includes("list-type=2") ? { status: 500, code: "InternalError", message: "disk on fire" } : null),
      2,
    );
    try {
      const report = await scanActors(w.ctx, w.s3, { all: true });
      expect(report).toMatchObject({ scanned: 0, failed: 3 });
      for (const result of report.actors) expect(result.error).toMatch(/InternalError \(HTTP 500, after 2 attempts\)/);
      for (const actor of made) {
        expect(Object.values(statuses(w, actor.id))).toEqual(["synced", "synced", "synced", "synced"]);
        expect(w.db.select().from(actors).where(eq(actors.id, actor.id)).get()!.lastCheckedAt).toBeNull();
      }
    } finally {
      await proxy.stop();
    }
  });
});

describe("planActorScan (stat rules without I/O)", () => {
  const s3Config = { endpoint: "http://127.0.0.1:1", bucket: "b", region: "us-west-1", prefix: "p/", forcePathStyle: true };
  const multipart = "0123456789abcdef0123456789abcdef-2";
  function row(over: Partial<ImageRow>): ImageRow {
    return {
      id: 1,
      actorId: 1,
      filename: f(0),
      index: 0,
      s3Key: `p/${A}/${f(0)}`,
      s3Url: null,
      localPath: `data/actors/${A}/training_data/${f(0)}`,
      md5: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      sizeBytes: 100,
      modifiedAt: null,
      modifiedTimestamp: null,
      prompt: null,
      promptPreview: null,
      generatedAt: null,
      generationId: null,
      source: null,
      status: "synced",
      good: null,
      checkedAt: null,
      localSize: 100,
      localMtimeMs: 1000,
      s3Etag: multipart,
      s3Size: 100,
      s3LastModified: "2025-01-01T00:00:00.000Z",
      s3Md5: null,
      s3Md5Etag: null,
      orphan: false,
      ...over,
    };
  }
  function plan(prev: ImageRow, etag: string, local = { size: 100, mtimeMs: 1000 }) {
    return planActorScan({
      snapshot: { actor: { id: 1, name: A } as never, images: [prev] },
      objects: [{ key: `p/${A}/${f(0)}`, filename: f(0), size: 100, etag, lastModified: "2025-01-01T00:00:00.000Z" }],
      local: { files: [{ filename: f(0), ...local }], skipped: [], folderMissing: false },
      s3Config,
      relativeImagePath: (name) => `data/actors/${A}/training_data/${name}`,
      maxRemoveShare: 0.5,
    });
  }

  it("never calls a multipart object out of sync for its ETag alone", () => {
    expect(plan(row({}), multipart).updates).toEqual([]); // unchanged: SYNCED stays, nothing to write
    const changed = plan(row({}), "fedcba9876543210fedcba9876543210-2");
    expect(changed.updates[0]!.changes.status).toBeNull(); // changed, same size: for audit, not OUT_OF_SYNC
    expect(changed.report.needsAudit).toEqual([f(0)]);
  });

  it("uses an x-amz-meta-md5 established for this very ETag", () => {
    const known = row({ status: null, s3Md5: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", s3Md5Etag: multipart });
    expect(plan(known, multipart).updates[0]!.changes.status).toBe("synced");
    const differs = row({ status: null, s3Md5: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", s3Md5Etag: multipart });
    expect(plan(differs, multipart).updates[0]!.changes.status).toBe("out_of_sync");
    const stale = row({ status: null, s3Md5: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", s3Md5Etag: "0123456789abcdef0123456789abcdef-3" });
    expect(plan(stale, multipart).updates).toEqual([]); // unknown stays unknown
  });
});
