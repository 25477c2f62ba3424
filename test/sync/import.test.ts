import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { actors, generations, images } from "../../src/db/schema.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";
import { entryA, writeFormatA, writeJson } from "../helpers/manifests.ts";
import { makeStoreWorld, type StoreWorld } from "../helpers/store-world.ts";

let world: StoreWorld;
beforeEach(() => {
  world = makeStoreWorld();
});
afterEach(() => world.dispose());

const name = "0042_east_asian_30_male";

function imageRows(actorName: string) {
  const actor = world.ctx.db.select().from(actors).where(eq(actors.name, actorName)).get()!;
  return world.ctx.db.select().from(images).where(eq(images.actorId, actor.id)).all();
}

describe("import", () => {
  it("imports format A with name parts, a numeric character id kept as four digits, and statistics", async () => {
    writeFormatA(world.dataDir, { characterId: 42, name }, [
      entryA(name, 0),
      entryA(name, 1, { status: "local_only" }),
      entryA(name, 2, { status: "out_of_sync" }),
    ]);
    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ actorsImported: 1, imagesImported: 3 });

    const actor = world.ctx.db.select().from(actors).where(eq(actors.name, name)).get()!;
    expect(actor).toMatchObject({ characterId: "0042", descriptor: "east_asian", age: 30, gender: "male" });
    expect(actor).toMatchObject({ totalCount: 3, syncedCount: 1, localOnlyCount: 1, outOfSyncCount: 1, unratedCount: 3 });
    expect(actor.totalSizeBytes).toBe(1000 + 1001 + 1002);
    expect(
      imageRows(name)
        .map((row) => row.index)
        .sort(),
    ).toEqual([0, 1, 2]);
  });

  it("leaves name parts null where the name does not have the usual shape", async () => {
    writeFormatA(world.dataDir, { characterId: "0100", name: "0100_mascot" }, [entryA("0100_mascot", 0)]);
    await importManifests(world.ctx);
    const actor = world.ctx.db.select().from(actors).where(eq(actors.name, "0100_mascot")).get()!;
    expect(actor).toMatchObject({ characterId: "0100", descriptor: null, age: null, gender: null });
  });

  it("merges format A, format B and prompt_metadata into one actor; the newest source wins per field", async () => {
    writeFormatA(world.dataDir, { characterId: "0042", name }, [entryA(name, 0), entryA(name, 1)]);
    const training = join(world.dataDir, "actors", name, "training_data");
    writeJson(join(training, "manifest.json"), {
      actor_id: name,
      created_at: "2025-10-16T10:00:00.000000",
      updated_at: "2025-10-18T10:00:00.000000", // newer than format A's 2025-10-17
      total_images: 1,
      generations: [
        {
          generation_id: 3,
          type: "replicate_flux_kontext",
          generated_at: "2025-10-18T09:00:00",
          image_count: 1,
          metadata: { model: "kontext" },
        },
      ],
      images: {
        [`${name}_1.jpg`]: {
          s3_key: `system_actors/training_data/${name}/${name}_1.jpg`,
          prompt: "Portrait sous la pluie, 雨の中 🌧",
          size: 5555,
          etag: "e1",
          generation_id: 3,
        },
      },
    });
    writeJson(join(training, "prompt_metadata.json"), {
      [`${name}_0.jpg`]: { good: true },
      [`${name}_1.jpg`]: { good: false },
      other_tool: { keep: 1 },
    });

    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([]);
    const rows = new Map(imageRows(name).map((row) => [row.filename, row]));
    expect(rows.size).toBe(2);
    expect(rows.get(`${name}_0.jpg`)).toMatchObject({ good: true, sizeBytes: 1000 });
    expect(rows.get(`${name}_1.jpg`)).toMatchObject({
      good: false,
      sizeBytes: 5555,
      prompt: "Portrait sous la pluie, 雨の中 🌧",
      s3Etag: "e1",
    });
    const generation = world.ctx.db.select().from(generations).get()!;
    expect(generation).toMatchObject({ generationKey: 3, type: "replicate_flux_kontext", imageCount: 1 });
    expect(rows.get(`${name}_1.jpg`)!.generationId).toBe(generation.id);
    const actor = world.ctx.db.select().from(actors).where(eq(actors.name, name)).get()!;
    expect(actor).toMatchObject({ goodCount: 1, badCount: 1, unratedCount: 0 });
  });

  it("accepts prompt_metadata as a list of entries with a filename", async () => {
    writeFormatA(world.dataDir, { characterId: "0042", name }, [entryA(name, 0), entryA(name, 1)]);
    writeJson(join(world.dataDir, "actors", name, "training_data", "prompt_metadata.json"), [
      { filename: `${name}_1.jpg`, good: true, prompt: "standing by the sea" },
    ]);
    await importManifests(world.ctx);
    const rows = new Map(imageRows(name).map((row) => [row.filename, row]));
    expect(rows.get(`${name}_1.jpg`)).toMatchObject({ good: true, prompt: "standing by the sea" });
    expect(rows.get(`${name}_0.jpg`)!.good).toBeNull();
  });

  it("takes every S3 URL under the actor's prefix from a legacy response.json, wherever it sits", async () => {
    const prefix = `https://story-boards-assets.s3.us-west-1.amazonaws.com/system_actors/training_data/${name}`;
    writeJson(join(world.dataDir, "actors", name, "training_data", "response.json"), {
      output: [`${prefix}/${name}_4.jpg`, { nested: { url: `${prefix}/${name}_5.png` } }],
      unrelated: "https://story-boards-assets.s3.us-west-1.amazonaws.com/system_actors/training_data/someone_else/x_1.jpg",
    });
    await importManifests(world.ctx);
    const rows = imageRows(name);
    expect(rows.map((row) => row.filename).sort()).toEqual([`${name}_4.jpg`, `${name}_5.png`]);
    expect(rows.find((row) => row.filename === `${name}_4.jpg`)!.s3Key).toBe(`system_actors/training_data/${name}/${name}_4.jpg`);
  });

  it("finds an actor that has a training-data folder but no manifest, from its files", async () => {
    const training = join(world.dataDir, "actors", "0007_african_25_female", "training_data");
    mkdirSync(training, { recursive: true });
    writeFileSync(join(training, "0007_african_25_female_0.jpg"), Buffer.alloc(321, 1));
    writeFileSync(join(training, "0007_african_25_female_1.PNG"), Buffer.alloc(123, 2));
    writeFileSync(join(training, "notes.txt"), "not an image");
    await importManifests(world.ctx);
    const rows = imageRows("0007_african_25_female");
    expect(rows.map((row) => [row.filename, row.sizeBytes, row.index]).sort()).toEqual([
      ["0007_african_25_female_0.jpg", 321, 0],
      ["0007_african_25_female_1.PNG", 123, 1],
    ]);

    const exported = await exportManifests(world.ctx);
    expect(exported.filesWritten).toEqual([join(world.dataDir, "actor_manifests", "0007_manifest.json")]);
    const manifest = JSON.parse(readFileSync(exported.filesWritten[0]!, "utf8"));
    expect(manifest.character_name).toBe("0007_african_25_female");
    expect(manifest.training_data).toHaveLength(2);
  });

  it("re-imports unchanged files as a no-op that reads nothing, and re-reads only the actor whose file changed", async () => {
    for (let i = 0; i < 5; i++) {
      const actorName = `000${i}_european_2${i}_female`;
      writeFormatA(world.dataDir, { characterId: `000${i}`, name: actorName }, [entryA(actorName, 0)]);
    }
    expect((await importManifests(world.ctx)).filesRead).toBe(5);
    const again = await importManifests(world.ctx);
    expect(again).toMatchObject({ filesRead: 0, actorsImported: 0, actorsUnchanged: 5 });

    const changed = writeFormatA(world.dataDir, { characterId: "0003", name: "0003_european_23_female" }, [
      entryA("0003_european_23_female", 0),
      entryA("0003_european_23_female", 1),
    ]);
    utimesSync(changed, new Date(), new Date(Date.now() + 5000));
    const third = await importManifests(world.ctx);
    expect(third).toMatchObject({ filesRead: 1, actorsImported: 1, imagesImported: 2, actorsUnchanged: 4 });
    expect(imageRows("0003_european_23_female")).toHaveLength(2);
  });

  it("drops images a changed manifest no longer lists", async () => {
    const path = writeFormatA(world.dataDir, { characterId: "0042", name }, [entryA(name, 0), entryA(name, 1)]);
    await importManifests(world.ctx);
    writeFormatA(world.dataDir, { characterId: "0042", name }, [entryA(name, 1)]);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    await importManifests(world.ctx);
    expect(imageRows(name).map((row) => row.filename)).toEqual([`${name}_1.jpg`]);
    expect(world.ctx.db.select().from(actors).get()!.totalCount).toBe(1);
  });
});
