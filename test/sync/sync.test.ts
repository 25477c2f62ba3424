import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { actors, intents } from "../../src/db/schema.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { auditActors } from "../../src/sync/checks/audit.ts";
import { scanActors } from "../../src/sync/checks/scan.ts";
import { Md5Pool } from "../../src/sync/hashing/md5-pool.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import { applyActorPlan } from "../../src/sync/operations/write-through.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { bytesFor, makeActor, md5Of } from "../helpers/actors.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, imageRowsByFilename, type World } from "../helpers/world.ts";

let server: TestS3Server;
let world: World;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());
beforeEach(async () => {
  world = await createWorld({ server });
});
afterEach(() => world.close());

const name = "0042_european_30_male";
const file = (i: number) => `${name}_${i}.jpg`;

function manifest() {
  return JSON.parse(readFileSync(join(world.dataDir, "actor_manifests", "0042_manifest.json"), "utf8"));
}

describe("sync", () => {
  it("reports bytes as a large file streams, each way, before the file is done", async () => {
    // 40 MB: five parts of an upload; a download streams in chunks.
    const large = (seed: string) => Buffer.alloc(40 * 1024 * 1024, seed);
    await makeActor(world, {
      name,
      images: [
        { local: true, content: large("a") },
        { s3: true, content: large("b") },
      ],
    });
    const events: { bytesDone: number; bytesTotal: number; finished: number }[] = [];
    let finished = 0;
    const report = await syncActors(world.ctx, world.s3, {
      transferConcurrency: 1,
      onProgress: (progress) => {
        if (progress.phase !== "transfer") return;
        if (progress.step) finished++;
        else events.push({ bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, finished });
      },
    });
    expect(report.failedSteps).toBe(0);
    const total = 2 * 40 * 1024 * 1024;
    // Figures while the upload, then the download, were under way: between what was done and all of it.
    const during = (done: number) =>
      events.filter(
        (event) => event.finished === done && event.bytesDone > (done * total) / 2 && event.bytesDone < ((done + 1) * total) / 2,
      );
    expect(during(0).length, JSON.stringify(events)).toBeGreaterThan(0);
    expect(during(1).length, JSON.stringify(events)).toBeGreaterThan(0);
    expect(events.every((event) => event.bytesTotal === total && event.bytesDone <= total)).toBe(true);
  }, 60_000);

  it("uploads local-only and downloads S3-only images, verified, and writes it all through", async () => {
    await makeActor(world, {
      name,
      images: [{ local: true, s3: true }, { local: true }, { s3: true }, { local: true, s3: bytesFor("other") }],
    });
    const dry = await syncActors(world.ctx, world.s3, { dryRun: true });
    expect(dry.totals).toMatchObject({ uploads: 1, downloads: 1, overwrites: 0 });
    expect(dry.plans[0]!.skipped).toEqual([
      {
        filename: file(3),
        reason: "out of sync: choose a winner with --out-of-sync local|s3|newer (GraphQL outOfSync: LOCAL, S3 or NEWER)",
      },
    ]);
    expect(existsSync(world.ctx.layout.imagePath(name, file(2)))).toBe(false);

    const report = await syncActors(world.ctx, world.s3);
    expect(report.failedSteps).toBe(0);
    const after = imageRowsByFilename(world);
    expect([0, 1, 2, 3].map((i) => after.get(file(i))!.status)).toEqual(["synced", "synced", "synced", "out_of_sync"]);

    const uploaded = await headObject(world.s3.client, world.s3.s3Config.bucket, s3KeyOf(world.s3.s3Config, name, file(1)));
    const local1 = readFileSync(world.ctx.layout.imagePath(name, file(1)));
    expect(uploaded).toMatchObject({ size: local1.length, metadataMd5: md5Of(local1), etag: md5Of(local1) });
    expect(md5Of(readFileSync(world.ctx.layout.imagePath(name, file(2))))).toBe(after.get(file(2))!.md5);

    const entries = new Map(manifest().training_data.map((entry: { filename: string }) => [entry.filename, entry]));
    expect(entries.get(file(1))).toMatchObject({ status: "synced", md5_hash: md5Of(local1) });
    expect(manifest().statistics).toMatchObject({ training_synced_count: 3, training_out_of_sync_count: 1 });
    expect(world.db.select().from(actors).get()).toMatchObject({ syncedCount: 3, outOfSyncCount: 1 });
    expect(
      world.db
        .select()
        .from(intents)
        .all()
        .every((intent) => intent.state === "done"),
    ).toBe(true);
  });

  it("repairs out-of-sync images in the direction the caller chose", async () => {
    const local = bytesFor("local version");
    const remote = bytesFor("s3 version", 3000);
    await makeActor(world, {
      name,
      images: [
        { content: local, local: true, s3: remote },
        { content: local, local: bytesFor("l2"), s3: bytesFor("s2") },
      ],
    });
    await syncActors(world.ctx, world.s3, { outOfSync: "local" });
    const head = await headObject(world.s3.client, world.s3.s3Config.bucket, s3KeyOf(world.s3.s3Config, name, file(0)));
    expect(head).toMatchObject({ size: local.length, metadataMd5: md5Of(local) });
    expect(imageRowsByFilename(world).get(file(0))!.status).toBe("synced");

    writeFileSync(world.ctx.layout.imagePath(name, file(1)), bytesFor("edited again"));
    await syncActors(world.ctx, world.s3, { outOfSync: "s3" });
    expect(md5Of(readFileSync(world.ctx.layout.imagePath(name, file(1))))).toBe(md5Of(bytesFor("l2")));
    expect(imageRowsByFilename(world).get(file(1))!.status).toBe("synced");
  });

  it("pushes only with direction push, and pulls only with pull", async () => {
    await makeActor(world, { name, images: [{ local: true }, { s3: true }] });
    const push = await syncActors(world.ctx, world.s3, { direction: "push" });
    expect(push.totals).toMatchObject({ uploads: 1, downloads: 0 });
    expect(imageRowsByFilename(world).get(file(1))!.status).toBe("s3_only");
    const pull = await syncActors(world.ctx, world.s3, { direction: "pull" });
    expect(pull.totals).toMatchObject({ uploads: 0, downloads: 1 });
    expect([...imageRowsByFilename(world).values()].every((row) => row.status === "synced")).toBe(true);
    const again = await syncActors(world.ctx, world.s3);
    expect(again.totals).toMatchObject({ uploads: 0, downloads: 0 });
  });

  it("leaves actors it only uploaded to confirmed: the next audit reads no row, and sees a file changed since", async () => {
    await makeActor(world, { name, images: [{ local: true }, { local: true }, { local: true, s3: true }] });
    expect((await syncActors(world.ctx, world.s3, { direction: "push" })).totals).toMatchObject({ uploads: 2 });
    // A scan learns each new object's Last-Modified (an upload records none): nothing an audit rests on.
    const scanned = await scanActors(world.ctx, world.s3, { all: true });
    expect(scanned.actors[0]).toMatchObject({ outcome: "scanned", changed: [], needsAudit: [] });
    const audited = await auditActors(world.ctx, world.s3, { all: true });
    expect(audited.actors[0]).toMatchObject({ ok: true, unchanged: true, counts: { synced: 3 } });
    // Confirmed from the folder's stat: a file edited since is audited in full and found out of sync.
    writeFileSync(world.ctx.layout.imagePath(name, file(1)), bytesFor("edited after the sync"));
    const edited = await auditActors(world.ctx, world.s3, { all: true });
    expect(edited.actors[0]).toMatchObject({ ok: true, unchanged: false, counts: { synced: 2, out_of_sync: 1 } });
  });

  it("starts no hashing thread for a re-sync that finds nothing changed", async () => {
    // Uploads leave the audit's basis standing (a download changes the folder: the next audit reads it again).
    await makeActor(world, { name, images: [{ local: true }, { local: true }, { local: true, s3: true }] });
    expect((await syncActors(world.ctx, world.s3)).totals).toMatchObject({ uploads: 2, downloads: 0 });
    const pool = new Md5Pool();
    try {
      const again = await syncActors({ ...world.ctx, hashing: pool }, world.s3);
      expect(again.totals).toMatchObject({ uploads: 0, downloads: 0 });
      expect(again.failedActors).toEqual([]);
      expect(pool.running).toBe(0);
      // A file edited since is hashed: the threads start then.
      writeFileSync(world.ctx.layout.imagePath(name, file(0)), bytesFor("edited after the sync"));
      await syncActors({ ...world.ctx, hashing: pool }, world.s3);
      expect(pool.running).toBe(pool.threads);
      expect(pool.filesHashed).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it("re-imports a manifest another tool edited during the sync instead of overwriting it", async () => {
    await makeActor(world, { name, images: [{ local: true }, { local: true }] });
    const path = join(world.dataDir, "actor_manifests", "0042_manifest.json");
    let edited = false;
    await syncActors(world.ctx, world.s3, {
      onProgress: (progress) => {
        if (progress.phase !== "transfer" || edited) return;
        edited = true;
        const value = JSON.parse(readFileSync(path, "utf8"));
        value.reviewed_by = "another tool";
        writeFileSync(path, JSON.stringify(value, null, 2));
      },
    });
    expect(edited).toBe(true);
    expect(world.messages).toContainEqual({
      level: "warn",
      message: expect.stringMatching(/0042_manifest\.json changed on disk during the operation/),
    });
    const after = manifest();
    expect(after.reviewed_by).toBe("another tool");
    expect(after.statistics.training_synced_count).toBe(2);
    expect(world.db.select().from(actors).where(eq(actors.name, name)).get()!.syncedCount).toBe(2);
  });
});

describe("uploads", () => {
  // One PUT (2 KB) and a multipart upload (9 MiB, whose audited MD5 would go up as metadata before any byte).
  for (const size of [2048, 9 * 1024 * 1024]) {
    it(`fails an upload whose file changed after its audit, and never records it synced, nor stores it (${size} bytes)`, async () => {
      await makeActor(world, { name, images: [{ local: true, content: bytesFor("as audited", size) }] });
      const planned = await syncActors(world.ctx, world.s3, { dryRun: true });
      // Same size, other bytes: only the content tells (the PUT carries the audited MD5, unhashed).
      writeFileSync(world.ctx.layout.imagePath(name, file(0)), bytesFor("edited after the audit", size));
      const result = await applyActorPlan(world.ctx, world.s3, planned.plans[0]!);
      expect(result.steps[0]).toMatchObject({
        ok: false,
        error: expect.stringMatching(new RegExp(`${file(0)}: content MD5 is \\w+, audited as \\w+`)),
      });
      expect(imageRowsByFilename(world).get(file(0))!.status).toBe("local_only");
      // Multipart: refused before any byte. One PUT: S3 refuses it by its Content-MD5 (s3rver does not check, and stores it).
      if (size > 8 * 1024 * 1024)
        expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, name, file(0)))).toBeNull();
    });
  }

  it("records the mtime of the file as it was read, so a file edited during its upload reads as changed to the next scan", async () => {
    let edited = false;
    let path = "";
    // The edit lands while the PUT is on its way: after the file was read, before the row is written.
    const proxy = await startFaultProxy(server.endpoint, (request) => {
      if (request.method === "PUT" && request.url.includes(file(0)) && !edited) {
        edited = true;
        writeFileSync(path, bytesFor("edited during the upload"));
      }
      return null;
    });
    const proxied = await createWorld({ server, endpoint: proxy.endpoint });
    try {
      await makeActor(proxied, { name, images: [{ local: true }] });
      path = proxied.ctx.layout.imagePath(name, file(0));
      const past = new Date(Date.now() - 60_000);
      utimesSync(path, past, past);
      const asRead = statSync(path).mtimeMs;
      const report = await syncActors(proxied.ctx, proxied.s3, { direction: "push" });
      expect(edited).toBe(true);
      expect(report.failedSteps).toBe(0);
      expect(imageRowsByFilename(proxied).get(file(0))).toMatchObject({ status: "synced", localMtimeMs: asRead });
      // The stat-only scan sees the edit (the row does not claim the new mtime for the uploaded content) …
      const scanned = await scanActors(proxied.ctx, proxied.s3, { all: true });
      expect(scanned.actors[0]).toMatchObject({ changed: [file(0)], needsAudit: [file(0)] });
      // … and the audit finds the two sides differ.
      expect((await auditActors(proxied.ctx, proxied.s3, { all: true })).actors[0]!.counts).toMatchObject({ out_of_sync: 1 });
    } finally {
      await proxied.close();
      await proxy.stop();
    }
  });

  it("does not send an upload again that another run recorded meanwhile: no request at all for it", async () => {
    const proxy = await startFaultProxy(server.endpoint, () => null);
    const proxied = await createWorld({ server, endpoint: proxy.endpoint });
    try {
      await makeActor(proxied, { name, images: [{ local: true }] });
      const planned = await syncActors(proxied.ctx, proxied.s3, { dryRun: true });
      expect((await syncActors(proxied.ctx, proxied.s3)).totals.uploads).toBe(1);
      const before = proxy.seen.length;
      // The plan made before that sync still says upload: the row, read under the actor's lock, says it is done.
      const result = await applyActorPlan(proxied.ctx, proxied.s3, planned.plans[0]!);
      expect(result.steps).toMatchObject([{ kind: "upload", ok: true }]);
      expect(
        proxy.seen.slice(before).filter((request) => request.url.includes(encodeURIComponent(file(0))) || request.url.includes(file(0))),
      ).toEqual([]);
    } finally {
      await proxied.close();
      await proxy.stop();
    }
  });
});
