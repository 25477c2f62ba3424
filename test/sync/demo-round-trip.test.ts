import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeDemoData, type DemoDataSet } from "../../src/demo/demo.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";
import { importManifests, type ImportReport } from "../../src/sync/manifests/import.ts";
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
  it("imports every actor, broken ones included, and reports exactly the broken files, with their JSON paths", () => {
    // SPEC.md §3: an actor never vanishes because a file about it is broken.
    expect(report.actorsImported).toBe(demo.actors.length);
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

describe("reading on a thread", () => {
  it("imports the same rows and reports the same problems as reading inline", async () => {
    const threaded = makeStoreWorld();
    try {
      await writeDemoData(threaded.dataDir, { s3: threaded.ctx.config.s3 });
      const threadedReport = await importManifests(threaded.ctx, { readerThreads: 1 });
      expect(threadedReport).toMatchObject({ actorsImported: report.actorsImported, imagesImported: report.imagesImported });
      expect(threadedReport.problems.map((p) => [p.file.slice(threaded.dataDir.length), p.jsonPath, p.reason]).sort()).toEqual(
        report.problems.map((p) => [p.file.slice(world.dataDir.length), p.jsonPath, p.reason]).sort(),
      );
      const rows = (w: StoreWorld) =>
        w.ctx.db.$client
          .prepare(
            "SELECT a.name, i.filename, i.status, i.md5, i.size_bytes, i.good, i.prompt FROM images i JOIN actors a ON a.id = i.actor_id ORDER BY 1, 2",
          )
          .all();
      expect(rows(threaded)).toEqual(rows(world));
    } finally {
      threaded.dispose();
    }
  });
});
