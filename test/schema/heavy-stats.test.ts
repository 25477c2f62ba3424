import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cachedUntilWrite } from "../../src/db/cached-until-write.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

let world: ApiWorld;
let reader: string;

/** Enough rows that grouping them all by MD5 takes a few hundred milliseconds on this machine. */
const bulkImages = 100_000;

beforeAll(() => {
  world = makeApiWorld();
  const plan = planActors(3);
  insertActors(world.ctx.db, plan);
  reader = plan[0]!.name;
  // Generated inside SQLite: a loop of inserts from JavaScript would take longer than the test.
  world.ctx.db.$client
    .prepare(
      `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
       INSERT INTO images (actor_id, filename, md5, size_bytes, prompt)
       SELECT (SELECT id FROM actors ORDER BY id DESC LIMIT 1), 'bulk_' || x || '.jpg', hex(randomblob(16)), 1000 + x, 'bulk ' || x FROM n`,
    )
    .run(bulkImages);
});
afterAll(() => world.dispose());

describe("statistics that read every image row", () => {
  it("leave the service answering other reads while they run", async () => {
    const started = performance.now();
    let answered = false;
    const duplicates = world.graphql(`{ stats { duplicates { groupCount imageCount } } }`).finally(() => {
      answered = true;
    });
    const reads: number[] = [];
    do {
      // In process, a request can complete in microtasks alone: give the worker's answer a turn, as HTTP requests would.
      await new Promise(setImmediate);
      const sent = performance.now();
      const { body } = await world.graphql(`query ($name: String!) { actor(name: $name) { name statistics { totalCount } } }`, {
        name: reader,
      });
      expect(body.data.actor.name).toBe(reader);
      reads.push(performance.now() - sent);
    } while (!answered);
    const elapsed = performance.now() - started;
    const { body } = await duplicates;
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    expect(body.data.stats.duplicates.groupCount).toBeGreaterThan(0);
    // Run on the main thread, the aggregate would hold the first read until it ended: one read, as slow as the aggregate.
    expect(reads.length, `${reads.length} reads in ${elapsed.toFixed(0)} ms`).toBeGreaterThan(2);
    expect(Math.max(...reads), `slowest read of ${reads.length} during ${elapsed.toFixed(0)} ms`).toBeLessThan(elapsed / 2);
  });

  it("answer figures of an image filter and duplicate pages as before", async () => {
    const { body } = await world.graphql(`{
      stats(imageFilter: { promptContains: "bulk" }) { actorCount images { totalCount } duplicates { groupCount } }
      duplicateImages(first: 2) { totalCount nodes { imageCount images { filename } } }
    }`);
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    expect(body.data.stats).toEqual({ actorCount: 1, images: { totalCount: bulkImages }, duplicates: { groupCount: 0 } });
    expect(body.data.duplicateImages.totalCount).toBeGreaterThan(0);
    for (const group of body.data.duplicateImages.nodes) expect(group.images).toHaveLength(group.imageCount);
  });
});

describe("figures cached until the next write", () => {
  it("are computed again after a computation that failed, not answered with its failure", async () => {
    const failing = cachedUntilWrite(world.ctx.db, "fails once", () => Promise.reject(new Error("busy")));
    await expect(failing).rejects.toThrow("busy");
    await expect(cachedUntilWrite(world.ctx.db, "fails once", () => Promise.resolve(42))).resolves.toBe(42);
    // A value that was answered stays until the next write.
    await expect(cachedUntilWrite(world.ctx.db, "fails once", () => Promise.resolve(43))).resolves.toBe(42);
  });
});
