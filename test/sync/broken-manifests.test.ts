import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";
import { makeApiWorld, type ApiWorld } from "../helpers/api-world.ts";
import { entryA, writeFormatA } from "../helpers/manifests.ts";

// SPEC.md §3: an actor never vanishes because a file about it is broken; validation is per
// entry; a broken file is left alone until fixed or rebuilt; nothing is merged or dropped silently.
let world: ApiWorld;
beforeEach(() => {
  world = makeApiWorld();
});
afterEach(() => world.dispose());

const name = "0002_european_30_male";

interface ActorView {
  characterId: string;
  problems: { file: string; jsonPath: string; reason: string }[];
  trainingImages: { nodes: { filename: string }[] };
}

async function actorView(actorName: string): Promise<ActorView | null> {
  const response = await world.graphql<{ actor: ActorView | null }>(
    `query ($name: String!) { actor(name: $name) { characterId problems { file jsonPath reason } trainingImages(first: 50) { nodes { filename } } } }`,
    { name: actorName },
  );
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.actor;
}

const filenames = (view: ActorView | null) => view!.trainingImages.nodes.map((node) => node.filename).sort();

/** Image files in the actor's training folder, as a studio tool leaves them. */
function writeImages(actorName: string, indexes: number[]): void {
  const folder = join(world.dataDir, "actors", actorName, "training_data");
  mkdirSync(folder, { recursive: true });
  for (const i of indexes) writeFileSync(join(folder, `${actorName}_${i}.jpg`), `bytes of ${i}`);
}

describe("a manifest that cannot be read at all", () => {
  it("leaves its actor listed, with the images of its folder and the problem on Actor.problems; the file is left as it is", async () => {
    writeImages(name, [0, 1, 2]);
    const path = join(world.dataDir, "actor_manifests", "0002_manifest.json");
    const text = JSON.stringify({ character_id: "0002", character_name: name, training_data: [entryA(name, 0)] });
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text.slice(0, 40));

    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([{ file: path, jsonPath: "$", reason: expect.stringMatching(/invalid JSON/) }]);
    const view = await actorView(name);
    expect(filenames(view)).toEqual([0, 1, 2].map((i) => `${name}_${i}.jpg`));
    expect(view!.problems).toEqual(report.problems);

    const exported = await exportManifests(world.ctx, { force: true });
    expect(exported.problems).toEqual([]);
    expect(exported.leftAlone.map((entry) => entry.file)).toEqual([path]);
    expect(readFileSync(path, "utf8")).toBe(text.slice(0, 40));
    // Unchanged on the next import: still listed, still reported, nothing read.
    const again = await importManifests(world.ctx);
    expect(again).toMatchObject({ filesRead: 0, problems: report.problems });
  });
});

describe("a manifest with bad entries", () => {
  it("imports the good entries; each bad one is on Actor.problems with its JSON path, and the file is never overwritten", async () => {
    const path = writeFormatA(world.dataDir, { characterId: "0002", name }, [
      entryA(name, 0),
      entryA(name, 1, { size_bytes: "big" }),
      entryA(name, 2, { status: "sideways" }),
      { ...entryA(name, 3), filename: "../../etc/passwd" },
      entryA(name, 4),
    ]);
    const before = readFileSync(path, "utf8");
    await importManifests(world.ctx);
    const view = await actorView(name);
    expect(filenames(view)).toEqual([`${name}_0.jpg`, `${name}_4.jpg`]);
    expect(view!.problems.map((problem) => [problem.file, problem.jsonPath])).toEqual([
      [path, "$.training_data[1].size_bytes"],
      [path, "$.training_data[2].status"],
      [path, "$.training_data[3].filename"],
    ]);
    world.ctx.db.$client.prepare("UPDATE images SET good = 1").run();
    world.ctx.db.$client.prepare("UPDATE actors SET revision = revision + 1").run();
    await exportManifests(world.ctx);
    expect(readFileSync(path, "utf8")).toBe(before);
  });

  it("is rebuilt on request (exportManifests rebuild: true): the old bytes are kept beside it as .bak, and its problems go", async () => {
    const path = writeFormatA(world.dataDir, { characterId: "0002", name, extra: { made_by: "another tool" } }, [
      entryA(name, 0),
      entryA(name, 1, { size_bytes: "big" }),
    ]);
    const before = readFileSync(path, "utf8");
    await importManifests(world.ctx);
    const response = await world.graphql(
      `mutation { exportManifests(names: ["${name}"], rebuild: true) { ... on ExportReport { filesWritten backups leftAlone { file } problems { reason } } } }`,
    );
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data.exportManifests).toEqual({ filesWritten: [path], backups: [`${path}.bak`], leftAlone: [], problems: [] });
    expect(readFileSync(`${path}.bak`, "utf8")).toBe(before);
    const rebuilt = JSON.parse(readFileSync(path, "utf8"));
    expect(rebuilt.made_by).toBe("another tool");
    expect(rebuilt.training_data.map((entry: { filename: string }) => entry.filename)).toEqual([`${name}_0.jpg`]);
    expect((await actorView(name))!.problems).toEqual([]);
    // The .bak is no manifest: a new import reads nothing new and reports nothing.
    expect((await importManifests(world.ctx)).problems).toEqual([]);
  });

  it("reports a filename listed twice, and an export --force drops neither entry", async () => {
    const path = writeFormatA(world.dataDir, { characterId: "0002", name }, [
      entryA(name, 0),
      entryA(name, 1),
      entryA(name, 1, { md5_hash: "0".repeat(32) }),
    ]);
    const before = readFileSync(path, "utf8");
    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([
      {
        file: path,
        jsonPath: "$.training_data[2].filename",
        reason: expect.stringMatching(/listed twice \(first at \$\.training_data\[1\]\)/),
      },
    ]);
    expect(filenames(await actorView(name))).toEqual([`${name}_0.jpg`, `${name}_1.jpg`]);
    await exportManifests(world.ctx, { force: true });
    expect(readFileSync(path, "utf8")).toBe(before);
  });
});

describe("two format A files claiming one actor", () => {
  it("are both kept: the actor's own id and file win, the other is reported on the actor and left alone, no image dropped", async () => {
    const own = writeFormatA(world.dataDir, { characterId: "0002", name }, [entryA(name, 0), entryA(name, 1)]);
    const other = writeFormatA(world.dataDir, { characterId: "0009", name }, [entryA(name, 2), entryA(name, 3)]);
    const otherBefore = readFileSync(other, "utf8");
    const report = await importManifests(world.ctx);
    const view = await actorView(name);
    expect(view!.characterId).toBe("0002");
    expect(filenames(view)).toEqual([0, 1, 2, 3].map((i) => `${name}_${i}.jpg`));
    expect(view!.problems).toEqual([
      { file: other, jsonPath: "$.character_name", reason: expect.stringContaining(`whose manifest is ${own}`) },
    ]);
    expect(report.problems).toEqual(view!.problems);

    const exported = await exportManifests(world.ctx, { force: true });
    expect(exported.leftAlone.map((entry) => entry.file)).toEqual([other]);
    expect(readFileSync(other, "utf8")).toBe(otherBefore);
    const written = JSON.parse(readFileSync(own, "utf8"));
    expect(written.character_id).toBe("0002");
    expect(written.training_data.map((entry: { filename: string }) => entry.filename).sort()).toEqual(filenames(view));

    // Removing the second file settles it: its problem goes from the actor.
    rmSync(other);
    await importManifests(world.ctx);
    expect((await actorView(name))!.problems).toEqual([]);
  });
});
