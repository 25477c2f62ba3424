import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { images } from "../../src/db/schema.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { eq } from "drizzle-orm";
import { expectBadInput, insertActors, makeApiWorld, planActors, type ApiWorld, type FixtureActor } from "../helpers/api-world.ts";

let world: ApiWorld;
let plan: FixtureActor[];

beforeAll(() => {
  world = makeApiWorld();
  plan = planActors(30);
  insertActors(world.ctx.db, plan);
});
afterAll(() => world.dispose());

const statsQuery = /* GraphQL */ `
  query ($filter: ActorFilterInput, $threshold: Int!) {
    stats(filter: $filter) {
      actorCount
        images { totalCount syncedCount localOnlyCount uncheckedCount goodCount badCount unratedCount totalSizeBytes }
        byStatus { status imageCount sizeBytes }
        byRating { rating imageCount }
        byDescriptor { key actorCount imageCount }
        byGender { key actorCount }
        byAgeBand { key actorCount }
        byGenerationType { type actorCount generationCount imageCount }
      actorsBelowGoodCount(threshold: $threshold, first: 3) { threshold count actors { name statistics { goodCount } } }
    }
  }`;

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const goodOf = (a: FixtureActor) => a.images.filter((i) => i.good === true).length;

describe("stats", () => {
  it("answers totals, counts by status and rating, bytes by status and groupings", async () => {
    const { body } = await world.graphql(statsQuery, { threshold: 3 });
    expect(body.errors).toBeUndefined();
    const stats = body.data.stats;
    const all = plan.flatMap((a) => a.images);
    expect(stats.actorCount).toBe(plan.length);
    expect(stats.images).toEqual({
      totalCount: all.length,
      syncedCount: all.filter((i) => i.status === "synced").length,
      localOnlyCount: all.filter((i) => i.status === "local_only").length,
      uncheckedCount: all.filter((i) => i.status === null).length,
      goodCount: all.filter((i) => i.good === true).length,
      badCount: all.filter((i) => i.good === false).length,
      unratedCount: all.filter((i) => i.good === null).length,
      totalSizeBytes: sum(all.map((i) => i.sizeBytes)),
    });
    const localOnly = stats.byStatus.find((s: { status: string | null }) => s.status === "LOCAL_ONLY");
    expect(localOnly.sizeBytes).toBe(sum(all.filter((i) => i.status === "local_only").map((i) => i.sizeBytes)));
    expect(stats.byStatus.find((s: { status: string | null }) => s.status === null).imageCount).toBe(all.filter((i) => i.status === null).length);
    expect(stats.byRating).toEqual([
      { rating: "GOOD", imageCount: all.filter((i) => i.good === true).length },
      { rating: "BAD", imageCount: all.filter((i) => i.good === false).length },
      { rating: "UNRATED", imageCount: all.filter((i) => i.good === null).length },
    ]);
    for (const group of stats.byDescriptor) {
      const members = plan.filter((a) => a.descriptor === group.key);
      expect(group).toEqual({ key: group.key, actorCount: members.length, imageCount: sum(members.map((a) => a.images.length)) });
    }
    expect(sum(stats.byGender.map((g: { actorCount: number }) => g.actorCount))).toBe(plan.length);
    const thirties = plan.filter((a) => a.age! >= 30 && a.age! <= 39).length;
    expect(stats.byAgeBand.find((g: { key: string }) => g.key === "30-39").actorCount).toBe(thirties);
    const uploads = stats.byGenerationType.find((g: { type: string }) => g.type === "upload");
    expect(uploads.actorCount).toBe(plan.filter((a) => a.generations.some((g) => g.type === "upload")).length);
    const uploadImages = plan.flatMap((a) => a.images.filter((i) => a.generations.find((g) => g.key === i.generationKey)?.type === "upload"));
    expect(uploads.imageCount).toBe(uploadImages.length);
    const below = plan.filter((a) => goodOf(a) < 3);
    expect(stats.actorsBelowGoodCount.count).toBe(below.length);
    expect(stats.actorsBelowGoodCount.actors).toHaveLength(Math.min(3, below.length));
    for (const actor of stats.actorsBelowGoodCount.actors) expect(actor.statistics.goodCount).toBeLessThan(3);
  });

  it("restricts every figure to the actors a filter picks", async () => {
    const { body } = await world.graphql(statsQuery, { filter: { genders: ["male"], ageMax: 40 }, threshold: 100 });
    const picked = plan.filter((a) => a.gender === "male" && a.age! <= 40);
    expect(body.data.stats.actorCount).toBe(picked.length);
    expect(body.data.stats.images.totalCount).toBe(sum(picked.map((a) => a.images.length)));
    expect(sum(body.data.stats.byStatus.map((s: { imageCount: number }) => s.imageCount))).toBe(sum(picked.map((a) => a.images.length)));
    expect(body.data.stats.actorsBelowGoodCount.count).toBe(picked.length);
  });

  it("sees a change made after a previous answer", async () => {
    const before = await world.graphql(statsQuery, { threshold: 1 });
    const localBefore = before.body.data.stats.byStatus.find((s: { status: string | null }) => s.status === "LOCAL_ONLY");
    const [row] = world.ctx.db.select().from(images).where(eq(images.status, "local_only")).limit(1).all();
    world.ctx.db.update(images).set({ status: "synced" }).where(eq(images.id, row!.id)).run();
    refreshActorStatistics(world.ctx.db, [row!.actorId]);
    const after = await world.graphql(statsQuery, { threshold: 1 });
    const localAfter = after.body.data.stats.byStatus.find((s: { status: string | null }) => s.status === "LOCAL_ONLY");
    expect(localAfter.imageCount).toBe(localBefore.imageCount - 1);
    expect(localAfter.sizeBytes).toBe(localBefore.sizeBytes - row!.sizeBytes!);
    expect(after.body.data.stats.images.localOnlyCount).toBe(before.body.data.stats.images.localOnlyCount - 1);
  });

  it("refuses a bad filter, and a bad threshold without losing the other figures", async () => {
    const bad = await world.graphql(statsQuery, { filter: { ageMin: 60, ageMax: 10 }, threshold: 1 });
    expect(bad.body.data.stats).toBeNull();
    expectBadInput(bad.body.errors, "filter.ageMin");
    const threshold = await world.graphql(statsQuery, { threshold: -1 });
    expect(threshold.body.data.stats).toMatchObject({ actorCount: plan.length, actorsBelowGoodCount: null });
    expectBadInput(threshold.body.errors, "threshold");
  });
});
