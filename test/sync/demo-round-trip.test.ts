import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeDemoData, type DemoDataSet } from "../../src/sync/demo.ts";
import { exportManifests } from "../../src/sync/export.ts";
import { importManifests, type ImportReport } from "../../src/sync/import.ts";
import { makeStoreWorld, type StoreWorld } from "../helpers/store-world.ts";

let world: StoreWorld;
let demo: DemoDataSet;
let before: Map<string, unknown>;
let report: ImportReport;

beforeAll(async () => {
  world = makeStoreWorld();
  demo = await writeDemoData(world.dataDir, { s3: world.ctx.config.s3 });
  const paths = demo.healthyManifests.map((path) => join(world.dataDir, path));
  before = new Map(paths.map((path) => [path, JSON.parse(readFileSync(path, "utf8"))]));
  report = await importManifests(world.ctx);
});
afterAll(() => world.dispose());

describe("the demo data set", () => {
  it("imports every healthy actor and reports exactly the broken files, with their JSON paths", () => {
    expect(report.actorsImported).toBe(demo.actors.filter((actor) => actor.healthy).length);
    expect(report.problems.map((p) => [p.file, p.jsonPath]).sort()).toEqual(
      demo.brokenFiles.map((broken) => [join(world.dataDir, broken.path), broken.jsonPath ?? "$"]).sort(),
    );
  });

  it("gives back the same JSON value for every healthy manifest after import and a forced export", async () => {
    expect(before.size).toBeGreaterThan(30);
    const exported = await exportManifests(world.ctx, { force: true });
    const healthy = new Set(before.keys());
    expect(exported.filesWritten.filter((path) => healthy.has(path))).toEqual([]);
    for (const [path, value] of before) expect(JSON.parse(readFileSync(path, "utf8")), path).toEqual(value);
  });
});
