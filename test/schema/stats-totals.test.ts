import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actors, generations, images } from "../../src/db/schema.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import {
  computeFigures,
  computeFullySyncedActorCount,
  computeGenerationTypes,
  fullySyncedActorCount,
  generationTypes,
  groupFigures,
  type GroupFigures,
  type StatsGrouping,
} from "../../src/db/stats-queries.ts";
import { writeMetadataScale } from "../../scripts/bench/bench-data.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { countStatements, insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

let world: ApiWorld;
beforeAll(() => {
  world = makeApiWorld();
});
afterAll(() => world.dispose());

const groupings: (StatsGrouping | undefined)[] = [undefined, "descriptor", "gender", "ageBand"];

/** The kept totals (migration 0009's triggers) against a fresh pass over the actors and generations. */
function expectTotalsEqualPass(step: string) {
  const db = world.ctx.db;
  for (const grouping of groupings) {
    expect(groupFigures(db, {}, grouping), `${step}: ${grouping ?? "overall"}`).toEqual(computeFigures(db, {}, grouping, undefined));
  }
  expect(fullySyncedActorCount(db, undefined), `${step}: fully synced`).toBe(computeFullySyncedActorCount(db, undefined));
  expect(generationTypes(db, undefined), `${step}: generation types`).toEqual(computeGenerationTypes(db, undefined));
}

describe("statistics totals", () => {
  it("equal a fresh pass after an import, inserts, updates and deletes", async () => {
    const db = world.ctx.db;
    expectTotalsEqualPass("empty");

    writeMetadataScale(world.dataDir, { actors: 40, imagesPerActor: 6 });
    const imported = await importManifests(world.ctx);
    expect(imported.actorsImported).toBe(40);
    expectTotalsEqualPass("import");

    insertActors(db, planActors(30));
    db.insert(actors).values({ name: "no_images_yet" }).run();
    expectTotalsEqualPass("inserts");

    // Statuses and ratings change, then the statistics columns are refreshed as every write does.
    const some = db.select({ id: images.id, actorId: images.actorId }).from(images).limit(200).all();
    for (const [n, image] of some.entries()) {
      db.update(images)
        .set({ status: n % 3 === 0 ? "synced" : n % 3 === 1 ? "missing" : null, good: n % 2 === 0 ? true : null, sizeBytes: 1000 + n })
        .where(eq(images.id, image.id))
        .run();
    }
    refreshActorStatistics(db, [...new Set(some.map((i) => i.actorId))]);
    // Name parts move actors between groups; a generation changes type.
    const [first, second, third] = db.select({ id: actors.id }).from(actors).orderBy(actors.id).limit(3).all();
    db.update(actors).set({ descriptor: "renamed", age: 99, gender: null }).where(eq(actors.id, first!.id)).run();
    db.update(actors).set({ descriptor: null, age: null }).where(eq(actors.id, second!.id)).run();
    db.update(generations).set({ type: "upload" }).where(eq(generations.actorId, third!.id)).run();
    // Every image of one actor synced: it becomes fully synced.
    db.update(images).set({ status: "synced" }).where(eq(images.actorId, third!.id)).run();
    refreshActorStatistics(db, [third!.id]);
    expectTotalsEqualPass("updates");

    // Images removed from one actor, two actors deleted (their generations go with them).
    const fourth = db.select({ id: actors.id }).from(actors).orderBy(actors.id).limit(1).offset(3).get()!;
    db.delete(images).where(eq(images.actorId, fourth.id)).run();
    db.delete(generations).where(eq(generations.actorId, fourth.id)).run();
    refreshActorStatistics(db, [fourth.id]);
    db.delete(actors)
      .where(inArray(actors.id, [first!.id, second!.id]))
      .run();
    expectTotalsEqualPass("deletes");

    // The manifests rewritten (fewer images each, five more actors) and imported again go through the same triggers.
    writeMetadataScale(world.dataDir, { actors: 45, imagesPerActor: 4 });
    const again = await importManifests(world.ctx);
    expect(again.actorsImported).toBeGreaterThan(0);
    expectTotalsEqualPass("re-import");
  });

  it("of a new actor are counted by the import as a refresh from its rows counts them", async () => {
    const fresh = makeApiWorld();
    try {
      writeMetadataScale(fresh.dataDir, { actors: 30, imagesPerActor: 8 });
      await importManifests(fresh.ctx);
      const db = fresh.ctx.db;
      const snapshot = () => ({
        actors: db
          .select()
          .from(actors)
          .orderBy(actors.id)
          .all()
          .map(({ revision, exportedRevision, ...row }) => row),
        generations: db.select().from(generations).orderBy(generations.id).all(),
      });
      const counted = snapshot();
      expect(new Set(counted.actors.map((a) => a.syncedCount > 0 && a.goodCount > 0 && a.unratedCount > 0)).has(true)).toBe(true);
      expect(counted.generations.some((g) => g.imageRows > 0)).toBe(true);
      refreshActorStatistics(
        db,
        counted.actors.map((a) => a.id),
      );
      expect(snapshot()).toEqual(counted);
    } finally {
      fresh.dispose();
    }
  });

  it("are filled from existing rows by the migration", () => {
    const db = world.ctx.db;
    const expected = groupings.map((g) => groupFigures(db, {}, g));
    const expectedTypes = generationTypes(db, undefined);
    db.$client.exec("DELETE FROM stats_totals; DELETE FROM generation_type_totals;");
    expect(groupFigures(db, {}, "descriptor")).toEqual([]);
    const migration = readFileSync(join(import.meta.dirname, "../../migrations/0009_stats_totals.sql"), "utf8");
    const fills = migration
      .split("--> statement-breakpoint")
      .filter((statement) => /^INSERT INTO/m.test(statement) && !/CREATE TRIGGER/.test(statement));
    expect(fills).toHaveLength(5);
    for (const fill of fills) db.$client.exec(fill);
    expect(groupings.map((g) => groupFigures(db, {}, g))).toEqual(expected);
    expect(generationTypes(db, undefined)).toEqual(expectedTypes);
  });

  it("read from the image rows equal those of the statistics columns", () => {
    const db = world.ctx.db;
    // Every status and rating present, so a part counted by the wrong condition or column shows.
    const parts = [
      { status: "synced", good: true },
      { status: "local_only", good: false },
      { status: "s3_only", good: null },
      { status: "out_of_sync", good: false },
      { status: "missing", good: true },
      { status: null, good: false },
    ] as const;
    const some = db.select({ id: images.id, actorId: images.actorId }).from(images).limit(parts.length).all();
    for (const [n, image] of some.entries()) db.update(images).set(parts[n]!).where(eq(images.id, image.id)).run();
    refreshActorStatistics(db, [...new Set(some.map((i) => i.actorId))]);
    expect(db.select({ id: images.id }).from(images).where(eq(images.orphan, true)).all()).toEqual([]);
    // actorCount differs by design: the columns count every picked actor, the rows those with an image.
    const figures = (rows: GroupFigures[]) => rows.filter((g) => g.imageCount > 0).map(({ actorCount, ...rest }) => rest);
    for (const grouping of [undefined, "descriptor"] as const) {
      const fromRows = computeFigures(db, { images: { orphan: false } }, grouping, undefined);
      expect(figures(fromRows), grouping ?? "overall").toEqual(figures(computeFigures(db, {}, grouping, undefined)));
    }
  });

  it("answer stats right after a write without reading the actors or generations tables", async () => {
    const query =
      "{ stats { actorCount fullySyncedActorCount images { totalCount localOnlyBytes } byDescriptor { key totalSizeBytes } byGender { key } byAgeBand { key } byGenerationType { type actorCount } } }";
    await world.graphql(query);
    const some = world.ctx.db.select({ id: actors.id }).from(actors).limit(1).get()!;
    world.ctx.db.update(images).set({ good: false }).where(eq(images.actorId, some.id)).run();
    refreshActorStatistics(world.ctx.db, [some.id]);
    const counter = countStatements(world.ctx.db);
    const { body } = await world.graphql(query);
    counter.stop();
    expect(body.errors).toBeUndefined();
    expect(body.data.stats.actorCount).toBe(computeFigures(world.ctx.db, {}, undefined, undefined)[0]!.actorCount);
    expect(counter.sql.filter((sql) => /\bFROM actors\b|\bFROM generations\b/.test(sql))).toEqual([]);
  });
});
