import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { actors, images } from "../../src/db/schema.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";
import { entryA, writeFormatA, writeJson } from "../helpers/manifests.ts";
import { makeStoreWorld, type StoreWorld } from "../helpers/store-world.ts";

let world: StoreWorld;
const healthy = "0001_european_20_female";
beforeEach(() => {
  world = makeStoreWorld();
  writeFormatA(world.dataDir, { characterId: "0001", name: healthy }, [entryA(healthy, 0), entryA(healthy, 1)]);
});
afterEach(() => world.dispose());

/** Every file under a folder, relative to it. */
function filesUnder(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(folder.length + 1))
    .sort();
}

function imageNames(actorName: string): string[] {
  const actor = world.ctx.db.select().from(actors).where(eq(actors.name, actorName)).get()!;
  return world.ctx.db
    .select()
    .from(images)
    .where(eq(images.actorId, actor.id))
    .all()
    .map((row) => row.filename)
    .sort();
}

function actorNames(): string[] {
  return world.ctx.db
    .select({ name: actors.name })
    .from(actors)
    .all()
    .map((row) => row.name)
    .sort();
}

/** Imports, and checks what every bad-input case must leave: the healthy actor in, nothing else written. */
async function importExpectingOneProblem(file: string) {
  const before = filesUnder(world.root).filter((path) => !path.includes("actor-manifests.db"));
  const report = await importManifests(world.ctx);
  expect(report.problems).toHaveLength(1);
  expect(report.problems[0]!.file).toBe(file);
  expect(actorNames()).toContain(healthy);
  expect(world.ctx.db.select().from(actors).where(eq(actors.name, healthy)).get()!.totalCount).toBe(2);
  const exported = await exportManifests(world.ctx, { force: true });
  expect(exported.filesWritten.every((path) => path.startsWith(world.dataDir))).toBe(true);
  const after = filesUnder(world.root).filter((path) => !path.includes("actor-manifests.db"));
  expect(after.filter((path) => !before.includes(path))).toEqual([]);
  return report.problems[0]!;
}

describe("bad input is reported with file, JSON path and reason; the rest imports", () => {
  it("a truncated manifest", async () => {
    const path = join(world.dataDir, "actor_manifests", "0002_manifest.json");
    const full = JSON.stringify({
      character_id: "0002",
      character_name: "0002_european_30_male",
      training_data: [entryA("0002_european_30_male", 0)],
    });
    writeFileSync(path, full.slice(0, full.length / 2));
    const problem = await importExpectingOneProblem(path);
    expect(problem.jsonPath).toBe("$");
    expect(problem.reason).toMatch(/invalid JSON/);
    expect(readFileSync(path, "utf8")).toBe(full.slice(0, full.length / 2));
  });

  it("a wrong type, named by its JSON path", async () => {
    const path = writeFormatA(world.dataDir, { characterId: "0002", name: "0002_european_30_male" }, [
      entryA("0002_european_30_male", 0),
      entryA("0002_european_30_male", 1, { size_bytes: "big" }),
    ]);
    const problem = await importExpectingOneProblem(path);
    expect(problem.jsonPath).toBe("$.training_data[1].size_bytes");
    expect(problem.reason).toMatch(/expected number.*"big"/);
    // Validation is per entry (SPEC.md §3): the good entry imports.
    expect(imageNames("0002_european_30_male")).toEqual(["0002_european_30_male_0.jpg"]);
  });

  it("an unknown status", async () => {
    const path = writeFormatA(world.dataDir, { characterId: "0002", name: "0002_european_30_male" }, [
      entryA("0002_european_30_male", 0, { status: "sideways" }),
    ]);
    const problem = await importExpectingOneProblem(path);
    expect(problem.jsonPath).toBe("$.training_data[0].status");
    expect(problem.reason).toMatch(/unknown status "sideways"/);
  });

  it("a wrong type in format B and in prompt_metadata.json", async () => {
    const training = join(world.dataDir, "actors", healthy, "training_data");
    const pm = join(training, "prompt_metadata.json");
    writeJson(pm, { [`${healthy}_0.jpg`]: { good: "yes" } });
    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([
      { file: pm, jsonPath: `$["${healthy}_0.jpg"].good`, reason: expect.stringMatching(/expected boolean/) },
    ]);

    const b = join(world.dataDir, "actors", "0003_nordic_50_male", "training_data", "manifest.json");
    writeJson(b, { actor_id: "0003_nordic_50_male", images: { "0003_nordic_50_male_0.jpg": { size: -1 } } });
    const second = await importManifests(world.ctx);
    expect(second.problems.map((p) => [p.file, p.jsonPath])).toContainEqual([b, '$.images["0003_nordic_50_male_0.jpg"].size']);
    // The actor is listed (SPEC.md §3: an actor never vanishes), without the bad entry.
    expect(imageNames("0003_nordic_50_male")).toEqual([]);
  });

  it("a numeric character_id is accepted and written back as it was", async () => {
    const path = writeFormatA(world.dataDir, { characterId: 7, name: "0007_latina_22_female" }, [entryA("0007_latina_22_female", 0)]);
    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([]);
    expect(world.ctx.db.select().from(actors).where(eq(actors.name, "0007_latina_22_female")).get()!.characterId).toBe("0007");
    await exportManifests(world.ctx, { force: true });
    expect(JSON.parse(readFileSync(path, "utf8")).character_id).toBe(7);
  });

  const hostile: [string, string, RegExp][] = [
    ["a parent-directory filename", "../../etc/passwd", /path separator|'\.\.'/],
    ["an absolute filename", "/etc/passwd", /path separator/],
    ["a backslash filename", "..\\..\\windows\\win.ini", /path separator/],
    ["a filename with a NUL byte", "0002_x_0.jpg\u0000.png", /NUL/],
    ["a bare '..'", "..", /'\.\.'/],
  ];
  for (const [label, filename, reason] of hostile) {
    it(`refuses ${label} in format A before any file operation`, async () => {
      const path = writeFormatA(world.dataDir, { characterId: "0002", name: "0002_european_30_male" }, [
        entryA("0002_european_30_male", 0),
        { ...entryA("0002_european_30_male", 1), filename },
      ]);
      const problem = await importExpectingOneProblem(path);
      expect(problem.jsonPath).toBe("$.training_data[1].filename");
      expect(problem.reason).toMatch(reason);
      expect(imageNames("0002_european_30_male")).toEqual(["0002_european_30_male_0.jpg"]);
    });
  }

  it("refuses a hostile actor name and a hostile key in format B", async () => {
    const a = writeFormatA(world.dataDir, { characterId: "0002", name: "../../outside" }, [entryA("x", 0)]);
    const report = await importManifests(world.ctx);
    expect(report.problems.map((p) => [p.file, p.jsonPath])).toEqual([[a, "$.character_name"]]);

    const b = join(world.dataDir, "actors", "0003_nordic_50_male", "training_data", "manifest.json");
    writeJson(b, { actor_id: "0003_nordic_50_male", images: { "../../../escape.jpg": { size: 1 } } });
    const second = await importManifests(world.ctx);
    expect(second.problems.find((p) => p.file === b)!.reason).toMatch(/refused filename/);
    expect(
      world.ctx.db
        .select()
        .from(images)
        .all()
        .map((row) => row.filename),
    ).not.toContain("../../../escape.jpg");
  });

  it("a broken file is reported again on an unchanged re-import, without reading it", async () => {
    const path = join(world.dataDir, "actor_manifests", "0002_manifest.json");
    writeFileSync(path, "{");
    const first = await importManifests(world.ctx);
    const second = await importManifests(world.ctx);
    expect(second.filesRead).toBe(0);
    expect(second.problems).toEqual(first.problems);
  });
});

describe("a manifest edited by another tool is never overwritten", () => {
  it("refuses to export over a file changed on disk since import, naming it, and writes nothing for that actor", async () => {
    await importManifests(world.ctx);
    const path = join(world.dataDir, "actor_manifests", "0001_manifest.json");
    const edited = JSON.parse(readFileSync(path, "utf8"));
    edited.training_data.push(entryA(healthy, 9));
    edited.edited_by = "another tool";
    writeFileSync(path, JSON.stringify(edited, null, 2));
    const other = writeFormatA(world.dataDir, { characterId: "0005", name: "0005_european_30_male" }, [entryA("0005_european_30_male", 0)]);
    // Not yet re-imported: the other actor is new, ours changed in SQLite after the edit.
    world.ctx.db.update(images).set({ good: true }).run();
    world.ctx.db.update(actors).set({ revision: 99 }).run();

    const report = await exportManifests(world.ctx);
    expect(report.problems).toEqual([
      { file: path, reason: expect.stringMatching(/0001_manifest\.json: changed on disk since it was last read/), changedOnDisk: true },
    ]);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(edited);
    expect(readFileSync(other, "utf8")).toContain("0005_european_30_male");

    // Once re-imported, the edit is in SQLite and the export goes through, keeping it.
    await importManifests(world.ctx);
    expect(world.ctx.db.select().from(actors).where(eq(actors.name, healthy)).get()!.totalCount).toBe(3);
    const again = await exportManifests(world.ctx, { force: true });
    expect(again.problems).toEqual([]);
    expect(JSON.parse(readFileSync(path, "utf8")).edited_by).toBe("another tool");
  });

  it("leaves a manifest that failed to import as it is, naming it, while the actor keeps its rows", async () => {
    await importManifests(world.ctx);
    const path = join(world.dataDir, "actor_manifests", "0001_manifest.json");
    writeFileSync(path, '{"character_id": "0001", "character_name": ');
    await importManifests(world.ctx);
    expect(world.ctx.db.select().from(actors).where(eq(actors.name, healthy)).get()!.totalCount).toBe(2);
    world.ctx.db.update(actors).set({ revision: 99 }).run();
    const report = await exportManifests(world.ctx);
    expect(report.problems).toEqual([]);
    expect(report.leftAlone).toEqual([
      { file: path, reason: expect.stringMatching(/left as it is until fixed or rebuilt .*invalid JSON/) },
    ]);
    expect(readFileSync(path, "utf8")).toBe('{"character_id": "0001", "character_name": ');
  });
});
