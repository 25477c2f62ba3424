import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { actors, images } from "../../src/db/schema.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { writeFileAtomic } from "../../src/sync/files/atomic-write.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { removeTemporaryFiles } from "../../src/sync/files/temporary-files.ts";
import { entryA, writeFormatA, writeJson } from "../helpers/manifests.ts";
import { makeStoreWorld, type StoreWorld } from "../helpers/store-world.ts";

let world: StoreWorld;
beforeEach(() => {
  world = makeStoreWorld();
});
afterEach(() => world.dispose());

const name = "0042_east_asian_30_male";
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

function writeActorWithEveryFormat() {
  const a = writeFormatA(
    world.dataDir,
    { characterId: 42, name, extra: { outfit: { top: "coat", colours: ["navy", "grey"] }, voice: null } },
    [entryA(name, 0, { reviewer: "mk", tags: ["close-up"] }), entryA(name, 1, { status: "local_only", s3_url: null })],
  );
  const training = join(world.dataDir, "actors", name, "training_data");
  const b = join(training, "manifest.json");
  writeJson(b, {
    actor_id: name,
    created_at: "2025-10-16T10:00:00.000000",
    updated_at: "2025-10-16T12:51:00.000000",
    total_images: 1,
    pipeline: { version: 3 },
    generations: [
      {
        generation_id: 1,
        type: "s3_scan",
        generated_at: "2025-10-16T10:00:00.000000",
        image_count: 1,
        metadata: { scanned_at: "2025-10-16T10:00:00.000000", total_scanned: 1 },
        operator: "bot",
      },
    ],
    images: {
      [`${name}_0.jpg`]: {
        s3_url: `https://story-boards-assets.s3.us-west-1.amazonaws.com/system_actors/training_data/${name}/${name}_0.jpg`,
        s3_key: `system_actors/training_data/${name}/${name}_0.jpg`,
        prompt: "Café au lait, 東京の夜, 🎬",
        prompt_preview: "Café au lait",
        generated_at: "2025-10-16T11:53:01.456489",
        last_modified: "2025-10-16T11:53:01.456489",
        size: 1000,
        etag: "abc123def456",
        index: 0,
        generation_id: 1,
        generation_type: "s3_scan",
        source: "s3_scan",
        seed: 1234,
      },
    },
  });
  const pm = join(training, "prompt_metadata.json");
  writeJson(pm, [{ filename: `${name}_0.jpg`, good: true, prompt: "Café au lait, 東京の夜, 🎬", model: "flux" }, { note: "kept" }]);
  return { a, b, pm };
}

describe("export", () => {
  it("gives back the same JSON value for every untouched manifest, unknown fields included", async () => {
    const files = writeActorWithEveryFormat();
    const before = Object.values(files).map(readJson);
    expect((await importManifests(world.ctx)).problems).toEqual([]);
    const report = await exportManifests(world.ctx, { force: true });
    expect(report).toMatchObject({ filesWritten: [], problems: [] });
    expect(Object.values(files).map(readJson)).toEqual(before);
  });

  it("writes a change through every format with statistics recomputed, keeping unknown fields", async () => {
    const files = writeActorWithEveryFormat();
    await importManifests(world.ctx);
    const actor = world.ctx.db.select().from(actors).where(eq(actors.name, name)).get()!;
    world.ctx.db.transaction(() => {
      world.ctx.db
        .update(images)
        .set({ status: "synced", good: false, s3Url: "https://example/x.jpg" })
        .where(eq(images.filename, `${name}_1.jpg`))
        .run();
      refreshActorStatistics(world.ctx.db, [actor.id]);
    });
    const report = await exportManifests(world.ctx);
    expect(report.filesWritten.sort()).toEqual(Object.values(files).sort());

    const a = readJson(files.a);
    expect(a.character_id).toBe(42);
    expect(a.outfit).toEqual({ top: "coat", colours: ["navy", "grey"] });
    expect(a.training_data[0]).toMatchObject({ reviewer: "mk", tags: ["close-up"] });
    expect(a.training_data[1]).toMatchObject({ status: "synced", s3_url: "https://example/x.jpg" });
    expect(a.statistics).toMatchObject({ training_images_count: 2, training_synced_count: 2, training_local_only_count: 0 });
    expect(a.training_data_updated).not.toBe("2025-10-17T16:30:00.000000");

    const b = readJson(files.b);
    expect(Object.keys(b.images)).toEqual([`${name}_0.jpg`, `${name}_1.jpg`]);
    expect(b.total_images).toBe(2);
    expect(b.pipeline).toEqual({ version: 3 });
    expect(b.images[`${name}_0.jpg`].seed).toBe(1234);
    expect(b.generations[0].operator).toBe("bot");

    const pm = readJson(files.pm);
    expect(pm).toContainEqual({ note: "kept" });
    expect(pm).toContainEqual({ filename: `${name}_1.jpg`, good: false });
    expect(pm[0]).toMatchObject({ good: true, model: "flux" });

    // SQLite and the files agree now: nothing left to export.
    expect((await exportManifests(world.ctx)).filesWritten).toEqual([]);
    expect((await importManifests(world.ctx)).filesRead).toBe(0);
  });

  it("writes an s3-only manifest without the local-side fields it never had", async () => {
    const s3only = "0050_european_45_female";
    const path = writeFormatA(world.dataDir, { characterId: "0050", name: s3only }, [
      { filename: `${s3only}_0.jpg`, s3_url: "https://x/0.jpg", size_mb: 0.31, modified_date: "2025-10-17T15:57:00.000000" },
    ]);
    const original = readJson(path);
    original.statistics = { training_images_count: 1, training_data_size_mb: 0.31 };
    writeJson(path, original);
    await importManifests(world.ctx);
    world.ctx.db.update(actors).set({ revision: 99 }).run();
    await exportManifests(world.ctx);
    const written = readJson(path);
    expect(Object.keys(written.training_data[0]).sort()).toEqual(["filename", "modified_date", "s3_url", "size_mb"]);
    expect(written.training_data[0].size_mb).toBe(0.31);
    expect(Object.keys(written.statistics).sort()).toEqual(["training_data_size_mb", "training_images_count"]);
  });
});

describe("atomic replacement", () => {
  it("a crash between writing the temporary file and the rename leaves the old manifest whole", async () => {
    writeActorWithEveryFormat();
    await importManifests(world.ctx);
    const path = join(world.dataDir, "actor_manifests", "0042_manifest.json");
    const before = readFileSync(path, "utf8");
    world.ctx.db.update(actors).set({ revision: 99 }).run();

    let temporary = "";
    const report = await exportManifests(world.ctx, {
      atomicWriteHooks: {
        beforeRename(path) {
          temporary = path;
          // The new content is complete and on disk before the rename; the target is untouched.
          expect(readJson(path).character_name).toBe(name);
          throw new Error("simulated crash before rename");
        },
      },
    });
    // A failed write is reported, naming the file; the other actors would go on.
    expect(report.problems).toEqual([
      { file: path, reason: expect.stringContaining("simulated crash before rename"), changedOnDisk: false },
    ]);
    expect(temporary.startsWith(join(world.dataDir, "actor_manifests", ".0042_manifest.json."))).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(before);
    expect(readdirSync(join(world.dataDir, "actor_manifests"))).toEqual(["0042_manifest.json"]);
  });

  it("a process killed before the rename leaves the old file and a temporary one, which the next start removes", () => {
    const folder = join(world.root, "manifests");
    mkdirSync(folder);
    const path = join(folder, "0042_manifest.json");
    writeFileSync(path, "old");
    // A real SIGKILL between the fsync of the temporary file and the rename.
    const child = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `
        import { writeFileAtomic } from ${JSON.stringify(join(process.cwd(), "src/sync/files/atomic-write.ts"))};
        writeFileAtomic(${JSON.stringify(world.root)}, ${JSON.stringify(path)}, "new", { beforeRename: () => process.kill(process.pid, "SIGKILL") });`,
      ],
      { encoding: "utf8" },
    );
    expect(child.signal).toBe("SIGKILL");
    expect(readFileSync(path, "utf8")).toBe("old");
    const left = readdirSync(folder).filter((entry) => entry.endsWith(".tmp"));
    expect(left).toHaveLength(1);
    expect(readFileSync(join(folder, left[0]!), "utf8")).toBe("new");
    // One of a running process (this one) is a write in progress: kept.
    const inProgress = `.0043_manifest.json.${process.pid}.0123abcd.tmp`;
    writeFileSync(join(folder, inProgress), "half");

    expect(removeTemporaryFiles(world.root, folder)).toEqual([join(folder, left[0]!)]);
    expect(readdirSync(folder).sort()).toEqual([inProgress, "0042_manifest.json"]);
  });

  it("an export removes what atomic writes of a killed process left beside the files it writes, and keeps a running one's", async () => {
    const { a, pm } = writeActorWithEveryFormat();
    await importManifests(world.ctx);
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const abandoned = [
      join(world.dataDir, "actor_manifests", `.0042_manifest.json.${gone}.0123abcd.tmp`),
      join(join(pm, ".."), `.prompt_metadata.json.${gone}.89abcdef.tmp`),
    ];
    const running = join(join(pm, ".."), `.manifest.json.${process.pid}.0123abcd.tmp`);
    for (const path of [...abandoned, running]) writeFileSync(path, "half");

    await exportManifests(world.ctx, { force: true });
    expect(readdirSync(join(a, "..")).filter((entry) => entry.endsWith(".tmp"))).toEqual([]);
    expect(readdirSync(join(pm, "..")).filter((entry) => entry.endsWith(".tmp"))).toEqual([`.manifest.json.${process.pid}.0123abcd.tmp`]);
  });

  it("replaces content whole and leaves no temporary file behind", () => {
    const path = join(world.root, "file.json");
    writeFileSync(path, "old");
    writeFileAtomic(world.root, path, "new content");
    expect(readFileSync(path, "utf8")).toBe("new content");
    expect(readdirSync(world.root).filter((entry) => entry.endsWith(".tmp"))).toEqual([]);
  });
});
