import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { loadConfig } from "../../src/config.ts";
import { readConfigFile } from "../../src/config-file.ts";
import { actors, generations, images, intents } from "../../src/db/schema.ts";
import { addImages } from "../../src/sync/operations/add-images.ts";
import { deleteImages } from "../../src/sync/operations/delete-images.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { s3KeyOf, s3UrlOf, InvalidFilenameError } from "../../src/sync/files/layout.ts";
import { migrateLegacy } from "../../src/sync/manifests/migrate-legacy.ts";
import {
  ImageExistsError,
  MaxDeleteExceededError,
  UnknownActorError,
  UnknownImageError,
} from "../../src/sync/operations/operation-common.ts";
import { pruneLocal } from "../../src/sync/operations/prune-local.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import { rateImages } from "../../src/sync/operations/rate-images.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
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
const formatAPath = () => join(world.dataDir, "actor_manifests", "0042_manifest.json");
const promptMetadataPath = () => world.ctx.layout.promptMetadataPath(name);

function manifest() {
  return JSON.parse(readFileSync(formatAPath(), "utf8"));
}
function listed(): string[] {
  return manifest().training_data.map((entry: { filename: string }) => entry.filename);
}
function head(filename: string, actor = name) {
  return headObject(world.s3.client, world.s3.s3Config.bucket, s3KeyOf(world.s3.s3Config, actor, filename));
}
function localExists(filename: string, actor = name): boolean {
  return existsSync(world.ctx.layout.imagePath(actor, filename));
}
function actorRow() {
  return world.db.select().from(actors).where(eq(actors.name, name)).get()!;
}
/** Everything an operation could change: files under the data dir, objects, rows. */
async function snapshot(filenames: string[]) {
  return {
    files: readdirSync(world.ctx.layout.trainingDir(name)).sort(),
    manifest: readFileSync(formatAPath(), "utf8"),
    objects: await Promise.all(filenames.map((f) => head(f).then((h) => h?.etag ?? null))),
    rows: JSON.stringify([...imageRowsByFilename(world).values()]),
  };
}

describe("delete", () => {
  it("plans on a dry run and changes nothing; then deletes from S3, disk, rows and manifests", async () => {
    await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    const before = await snapshot([file(0), file(1), file(2)]);
    const dry = await deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(1)], from: "everywhere", dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.plans[0]!.steps).toEqual([
      expect.objectContaining({ kind: "delete", filename: file(1), bytes: 2048, fromS3: true, fromLocal: true }),
    ]);
    expect(dry.totals).toMatchObject({ deletes: 1, deleteBytes: 2048 });
    expect(await snapshot([file(0), file(1), file(2)])).toEqual(before);

    const report = await deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(1)], from: "everywhere" });
    expect(report.failedSteps).toBe(0);
    expect(localExists(file(1))).toBe(false);
    expect(await head(file(1))).toBeNull();
    expect(imageRowsByFilename(world).has(file(1))).toBe(false);
    expect(listed()).toEqual([file(0), file(2)]);
    expect(manifest().statistics).toMatchObject({ training_images_count: 2, training_synced_count: 2 });
    expect(actorRow()).toMatchObject({ totalCount: 2, syncedCount: 2 });
    expect(
      world.db
        .select()
        .from(intents)
        .all()
        .map((i) => [i.operation, i.state]),
    ).toEqual([["delete", "done"]]);
  });

  it("from the manifest only forgets the row and leaves the file and the object; from s3 leaves the file", async () => {
    await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    await deleteImages(world.ctx, null, { actor: name, filenames: [file(0)], from: "manifest" });
    expect(imageRowsByFilename(world).has(file(0))).toBe(false);
    expect(localExists(file(0))).toBe(true);
    expect(await head(file(0))).not.toBeNull();

    await deleteImages(world.ctx, world.s3, { actor: "0042", filenames: [file(1)], from: "s3" });
    expect(localExists(file(1))).toBe(true);
    expect(await head(file(1))).toBeNull();
    expect(listed()).toEqual([]);
  });

  it("refuses the whole operation over max-delete, naming the limit and the count", async () => {
    await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    const before = await snapshot([file(0), file(1), file(2)]);
    const attempt = deleteImages(world.ctx, world.s3, { actor: name, from: "everywhere", maxDelete: 2 });
    await expect(attempt).rejects.toBeInstanceOf(MaxDeleteExceededError);
    await expect(attempt).rejects.toMatchObject({
      limit: 2,
      count: 3,
      message: expect.stringMatching(/would delete 3 images, over the max-delete limit of 2/),
    });
    expect(await snapshot([file(0), file(1), file(2)])).toEqual(before);

    const all = await deleteImages(world.ctx, world.s3, { actor: name, from: "everywhere", maxDelete: 3 });
    expect(all.totals.deletes).toBe(3);
    expect(readdirSync(world.ctx.layout.trainingDir(name)).filter((f) => f.endsWith(".jpg"))).toEqual([]);
  });

  it("refuses a hostile filename before any I/O, and unknown actors and images with typed errors", async () => {
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const outside = join(world.dataDir, "actors", "victim.jpg");
    writeFileSync(outside, "keep me");
    const before = await snapshot([file(0)]);
    await expect(
      deleteImages(world.ctx, world.s3, { actor: name, filenames: ["../victim.jpg"], from: "everywhere" }),
    ).rejects.toBeInstanceOf(InvalidFilenameError);
    await expect(deleteImages(world.ctx, world.s3, { actor: name, filenames: ["a\0.jpg"], from: "disk" })).rejects.toBeInstanceOf(
      InvalidFilenameError,
    );
    await expect(deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(7)], from: "everywhere" })).rejects.toBeInstanceOf(
      UnknownImageError,
    );
    await expect(deleteImages(world.ctx, world.s3, { actor: "0999_nobody_1_male", from: "everywhere" })).rejects.toBeInstanceOf(
      UnknownActorError,
    );
    expect(readFileSync(outside, "utf8")).toBe("keep me");
    expect(await snapshot([file(0)])).toEqual(before);
    expect(world.db.select().from(intents).all()).toEqual([]);
  });
});

describe("rate", () => {
  it("writes the rating to the row, the statistics, a new prompt_metadata.json (keyed by filename) and the manifests", async () => {
    await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    // Another tool records ratings in format A too: that field is kept up to date.
    const doc = manifest();
    doc.training_data[2].good = true;
    writeFileSync(formatAPath(), JSON.stringify(doc, null, 2));
    await importManifests(world.ctx);
    expect(existsSync(promptMetadataPath())).toBe(false);

    await rateImages(world.ctx, { actor: name, filenames: [file(0)], good: true });
    await rateImages(world.ctx, { actor: name, filenames: [file(1)], good: false });
    await rateImages(world.ctx, { actor: name, filenames: [file(2)], good: null });

    expect([0, 1, 2].map((i) => imageRowsByFilename(world).get(file(i))!.good)).toEqual([true, false, null]);
    expect(actorRow()).toMatchObject({ goodCount: 1, badCount: 1, unratedCount: 1 });
    // Created by the first rating with every rating known then (format A's too); a rating taken back is null, not dropped.
    expect(JSON.parse(readFileSync(promptMetadataPath(), "utf8"))).toEqual({
      [file(0)]: { good: true },
      [file(1)]: { good: false },
      [file(2)]: { good: null },
    });
    expect(manifest().training_data[2].good).toBeNull();

    // Taking a rating back writes null where the file had it; the file is re-read as it was written.
    await rateImages(world.ctx, { actor: name, filenames: [file(0)], good: null });
    expect(JSON.parse(readFileSync(promptMetadataPath(), "utf8"))[file(0)]).toEqual({ good: null });
    const reimport = await importManifests(world.ctx, { force: true });
    expect(reimport.problems).toEqual([]);
    expect([0, 1, 2].map((i) => imageRowsByFilename(world).get(file(i))!.good)).toEqual([null, false, null]);
  });

  it("keeps the other fields of an existing prompt_metadata.json and refuses bad names", async () => {
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    writeFileSync(
      promptMetadataPath(),
      JSON.stringify({ [file(0)]: { prompt: "a man", rated_by: "ann" }, settings: { seed: 7 } }, null, 2),
    );
    await importManifests(world.ctx);
    await rateImages(world.ctx, { actor: name, filenames: [file(0)], good: true });
    expect(JSON.parse(readFileSync(promptMetadataPath(), "utf8"))).toEqual({
      [file(0)]: { prompt: "a man", rated_by: "ann", good: true },
      settings: { seed: 7 },
    });
    await expect(rateImages(world.ctx, { actor: name, filenames: ["../../x.jpg"], good: true })).rejects.toBeInstanceOf(
      InvalidFilenameError,
    );
    await expect(rateImages(world.ctx, { actor: name, filenames: [file(9)], good: true })).rejects.toBeInstanceOf(UnknownImageError);
  });
});

describe("add", () => {
  it("writes the file, uploads it verified with x-amz-meta-md5, and records prompt and generation; refuses to overwrite unless asked", async () => {
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const source = join(world.dataDir, "incoming.jpg");
    const content = bytesFor("a new image", 5000);
    writeFileSync(source, content);
    const prompt = "A long prompt. ".repeat(10);

    const dry = await addImages(world.ctx, world.s3, { actor: name, images: [{ filename: file(5), path: source, prompt }], dryRun: true });
    expect(dry.totals).toMatchObject({ uploads: 1, uploadBytes: 5000 });
    expect(localExists(file(5))).toBe(false);
    expect(await head(file(5))).toBeNull();
    expect(imageRowsByFilename(world).has(file(5))).toBe(false);

    // What an add killed while staging left (no intent names it): removed by the next add to the actor.
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid!;
    writeFileSync(join(world.ctx.layout.trainingDir(name), `.am-download.${gone}.0123456789abcdef.tmp`), "half");
    const report = await addImages(world.ctx, world.s3, { actor: name, images: [{ filename: file(5), path: source, prompt }] });
    expect(report.failedSteps).toBe(0);
    expect(report.generation).toEqual({ key: 1, type: "upload", imageCount: 1 });
    expect(readFileSync(world.ctx.layout.imagePath(name, file(5)))).toEqual(content);
    expect(await head(file(5))).toMatchObject({ size: 5000, metadataMd5: md5Of(content) });
    const row = imageRowsByFilename(world).get(file(5))!;
    expect(row).toMatchObject({ status: "synced", md5: md5Of(content), prompt, promptPreview: prompt.slice(0, 100), index: 5 });
    expect(world.db.select().from(generations).where(eq(generations.id, row.generationId!)).get()).toMatchObject({
      type: "upload",
      imageCount: 1,
    });
    expect(listed()).toContain(file(5));
    expect(readdirSync(world.ctx.layout.trainingDir(name)).filter((f) => f.startsWith("."))).toEqual([]);

    const other = bytesFor("replacement", 3000);
    await expect(addImages(world.ctx, world.s3, { actor: name, images: [{ filename: file(0), bytes: other }] })).rejects.toBeInstanceOf(
      ImageExistsError,
    );
    expect(imageRowsByFilename(world).get(file(0))!.sizeBytes).toBe(2048);
    await addImages(world.ctx, world.s3, {
      actor: name,
      images: [{ filename: file(0), bytes: other }],
      overwrite: true,
      generationType: "replicate_flux_kontext",
    });
    expect(readFileSync(world.ctx.layout.imagePath(name, file(0)))).toEqual(other);
    expect(await head(file(0))).toMatchObject({ size: 3000, metadataMd5: md5Of(other) });
    expect(imageRowsByFilename(world).get(file(0))).toMatchObject({ status: "synced", sizeBytes: 3000 });

    await expect(
      addImages(world.ctx, world.s3, { actor: name, images: [{ filename: "../escape.jpg", bytes: other }] }),
    ).rejects.toBeInstanceOf(InvalidFilenameError);
    expect(existsSync(join(world.ctx.layout.actorDir(name), "escape.jpg"))).toBe(false);
  });

  it("in s3-only mode uploads only", async () => {
    const s3OnlyWorld = await createWorld({ server, env: { STORAGE_MODE: "s3-only" } });
    try {
      await makeActor(s3OnlyWorld, { name, images: [{ s3: true }] });
      const content = bytesFor("s3 only upload", 4000);
      await addImages(s3OnlyWorld.ctx, s3OnlyWorld.s3, { actor: name, images: [{ filename: file(1), bytes: content, prompt: "p" }] });
      expect(existsSync(s3OnlyWorld.ctx.layout.imagePath(name, file(1)))).toBe(false);
      const stored = await headObject(s3OnlyWorld.s3.client, s3OnlyWorld.config.s3.bucket, s3KeyOf(s3OnlyWorld.config.s3, name, file(1)));
      expect(stored).toMatchObject({ size: 4000, metadataMd5: md5Of(content) });
      const row = s3OnlyWorld.db
        .select()
        .from(images)
        .all()
        .find((r) => r.filename === file(1))!;
      expect(row).toMatchObject({ status: "s3_only", localPath: null, prompt: "p" });
    } finally {
      await s3OnlyWorld.close();
    }
  });
});

describe("migrate legacy response.json", () => {
  it("shows on a dry run what format A would gain, then lists it there and moves response.json to a backup the importer ignores", async () => {
    await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    const responsePath = world.ctx.layout.responsePath(name);
    const legacyUrl = s3UrlOf(world.config.s3, s3KeyOf(world.config.s3, name, file(7)));
    const response = { output: [s3UrlOf(world.config.s3, s3KeyOf(world.config.s3, name, file(0))), { nested: legacyUrl }] };
    writeFileSync(responsePath, JSON.stringify(response));
    const before = readFileSync(formatAPath(), "utf8");

    const dry = await migrateLegacy(world.ctx, { dryRun: true });
    expect(dry.actors).toEqual([expect.objectContaining({ name, added: [file(7)], listed: [file(0), file(7)], backupPath: null })]);
    expect(existsSync(responsePath)).toBe(true);
    expect(readFileSync(formatAPath(), "utf8")).toBe(before);
    expect(imageRowsByFilename(world).has(file(7))).toBe(false);

    const report = await migrateLegacy(world.ctx);
    expect(report.failed).toBe(0);
    const backup = report.actors[0]!.backupPath!;
    expect(backup).toMatch(/response\.json\.bak-\d{4}-\d\d-\d\dT/);
    expect(existsSync(responsePath)).toBe(false);
    expect(JSON.parse(readFileSync(backup, "utf8"))).toEqual(response);
    expect(listed()).toEqual([file(0), file(1), file(7)]);
    expect(imageRowsByFilename(world).get(file(7))!.s3Key).toBe(s3KeyOf(world.config.s3, name, file(7)));

    // The backup is never read again; the image stays because format A lists it now.
    const again = await importManifests(world.ctx, { force: true });
    expect(again.problems).toEqual([]);
    expect([...imageRowsByFilename(world).keys()].sort()).toEqual([file(0), file(1), file(7)]);
    expect((await migrateLegacy(world.ctx)).actors).toEqual([]);
  });
});

describe("prune local", () => {
  it("deletes only local copies S3 verifiably holds, keeps the others with the reason, on a dry run changes nothing", async () => {
    await makeActor(world, {
      name,
      images: [{ local: true, s3: true }, { local: true, s3: true }, { local: true, s3: bytesFor("different") }, { local: true }],
    });
    const before = await snapshot([0, 1, 2, 3].map(file));
    // The data directory is mirrored: pruning is refused unless it switches the mode.
    await expect(pruneLocal(world.ctx, world.s3, { dryRun: true })).rejects.toMatchObject({ name: "StorageModeError" });
    const dry = await pruneLocal(world.ctx, world.s3, { dryRun: true, switchToS3Only: true });
    expect(readConfigFile(world.dataDir).storageMode).toBeUndefined();
    expect(dry.plans[0]!.steps.map((s) => s.filename)).toEqual([file(0), file(1)]);
    expect(dry.kept.map((k) => [k.filename, k.status])).toEqual([
      [file(2), "out_of_sync"],
      [file(3), "local_only"],
    ]);
    expect(dry.kept[0]!.reason).toMatch(/S3 holds different content/);
    expect(dry.kept[1]!.reason).toMatch(/only copy is local/);
    expect([0, 1, 2, 3].every((i) => localExists(file(i)))).toBe(true);

    await expect(pruneLocal(world.ctx, world.s3, { maxDelete: 1, switchToS3Only: true })).rejects.toMatchObject({
      name: "MaxDeleteExceededError",
      limit: 1,
      count: 2,
    });
    expect(readdirSync(world.ctx.layout.trainingDir(name)).sort()).toEqual(before.files);

    const report = await pruneLocal(world.ctx, world.s3, { switchToS3Only: true });
    expect(report.failedSteps).toBe(0);
    // The mode belongs to the data directory now: a later run, with no flag, is s3-only and downloads nothing back.
    expect(readConfigFile(world.dataDir).storageMode).toBe("s3-only");
    expect(loadConfig({ DATA_DIR: world.dataDir }).storageMode).toBe("s3-only");
    expect([0, 1, 2, 3].map((i) => localExists(file(i)))).toEqual([false, false, true, true]);
    expect(await head(file(0))).not.toBeNull();
    expect([0, 1, 2, 3].map((i) => imageRowsByFilename(world).get(file(i))!.status)).toEqual([
      "s3_only",
      "s3_only",
      "out_of_sync",
      "local_only",
    ]);
    expect(manifest().statistics).toMatchObject({ training_s3_only_count: 2, training_out_of_sync_count: 1, training_local_only_count: 1 });
    // The manifest no longer points at the deleted files.
    const entries = new Map<string, { local_path?: string | null }>(
      manifest().training_data.map((entry: { filename: string; local_path?: string | null }) => [entry.filename, entry]),
    );
    expect([0, 1, 2, 3].map((i) => entries.get(file(i))?.local_path ?? null)).toEqual([null, null, expect.any(String), expect.any(String)]);
    // A sync does not download what was pruned on purpose.
    const resync = await syncActors(world.ctx, world.s3, { dryRun: true });
    expect(resync.totals.downloads).toBe(0);
  });

  it("keeps a local file changed after the audit", async () => {
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const dry = await pruneLocal(world.ctx, world.s3, { dryRun: true, switchToS3Only: true });
    expect(dry.totals.deletes).toBe(1);
    // A file edited in place with its size kept: the audit cache would not see it, the prune's re-check does.
    const path = world.ctx.layout.imagePath(name, file(0));
    mkdirSync(world.ctx.layout.trainingDir(name), { recursive: true });
    writeFileSync(path, bytesFor("edited meanwhile", 2048));
    const { applyActorPlan } = await import("../../src/sync/operations/write-through.ts");
    const result = await applyActorPlan(world.ctx, world.s3, dry.plans[0]!);
    expect(result.steps[0]).toMatchObject({ ok: false, error: expect.stringMatching(/audited as/) });
    expect(localExists(file(0))).toBe(true);
  });
});
