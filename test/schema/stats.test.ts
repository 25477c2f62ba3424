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
        byRating { rating imageCount sizeBytes }
        byDescriptor { key actorCount totalCount }
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
    expect(stats.byStatus.find((s: { status: string | null }) => s.status === null).imageCount).toBe(
      all.filter((i) => i.status === null).length,
    );
    const rated = (good: boolean | null) => all.filter((i) => i.good === good);
    expect(stats.byRating).toEqual([
      { rating: "GOOD", imageCount: rated(true).length, sizeBytes: sum(rated(true).map((i) => i.sizeBytes)) },
      { rating: "BAD", imageCount: rated(false).length, sizeBytes: sum(rated(false).map((i) => i.sizeBytes)) },
      { rating: "UNRATED", imageCount: rated(null).length, sizeBytes: sum(rated(null).map((i) => i.sizeBytes)) },
    ]);
    for (const group of stats.byDescriptor) {
      const members = plan.filter((a) => a.descriptor === group.key);
      expect(group).toEqual({ key: group.key, actorCount: members.length, totalCount: sum(members.map((a) => a.images.length)) });
    }
    expect(sum(stats.byGender.map((g: { actorCount: number }) => g.actorCount))).toBe(plan.length);
    const thirties = plan.filter((a) => a.age! >= 30 && a.age! <= 39).length;
    expect(stats.byAgeBand.find((g: { key: string }) => g.key === "30-39").actorCount).toBe(thirties);
    const uploads = stats.byGenerationType.find((g: { type: string }) => g.type === "upload");
    expect(uploads.actorCount).toBe(plan.filter((a) => a.generations.some((g) => g.type === "upload")).length);
    const uploadImages = plan.flatMap((a) =>
      a.images.filter((i) => a.generations.find((g) => g.key === i.generationKey)?.type === "upload"),
    );
    expect(uploads.imageCount).toBe(uploadImages.length);
    const below = plan.filter((a) => goodOf(a) < 3);
    expect(stats.actorsBelowGoodCount.count).toBe(below.length);
    // Fewest good images first, then by name.
    const fewestFirst = below.sort((a, b) => goodOf(a) - goodOf(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, 3);
    expect(stats.actorsBelowGoodCount.actors).toEqual(fewestFirst.map((a) => ({ name: a.name, statistics: { goodCount: goodOf(a) } })));
  });

  it("restricts every figure to the actors a filter picks", async () => {
    const { body } = await world.graphql(statsQuery, { filter: { genders: ["male"], age: { lte: 40 } }, threshold: 100 });
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
    // Later tests compute their figures from the plan.
    world.ctx.db.update(images).set({ status: "local_only" }).where(eq(images.id, row!.id)).run();
    refreshActorStatistics(world.ctx.db, [row!.actorId]);
  });

  it("refuses a bad filter, and a bad threshold without losing the other figures", async () => {
    const bad = await world.graphql(statsQuery, { filter: { age: { gte: 60, lte: 10 } }, threshold: 1 });
    expect(bad.body.data.stats).toBeNull();
    expectBadInput(bad.body.errors, "filter.age");
    const threshold = await world.graphql(statsQuery, { threshold: -1 });
    expect(threshold.body.data.stats).toMatchObject({ actorCount: plan.length, actorsBelowGoodCount: null });
    expectBadInput(threshold.body.errors, "threshold");
  });

  it("answers how many bytes are only local, by descriptor, in one query, with every group broken down by status and rating", async () => {
    const { body } = await world.graphql(
      `{ stats { byDescriptor { key localOnlyBytes localOnlyCount goodBytes byStatus { status sizeBytes } byRating { rating sizeBytes } } } }`,
    );
    expect(body.errors).toBeUndefined();
    const descriptors = [...new Set(plan.map((a) => a.descriptor))];
    expect(body.data.stats.byDescriptor.map((g: { key: string }) => g.key).sort()).toEqual(descriptors.sort());
    for (const group of body.data.stats.byDescriptor) {
      const images = plan.filter((a) => a.descriptor === group.key).flatMap((a) => a.images);
      const localOnly = images.filter((i) => i.status === "local_only");
      expect(group.localOnlyBytes).toBe(sum(localOnly.map((i) => i.sizeBytes)));
      expect(group.localOnlyCount).toBe(localOnly.length);
      expect(group.goodBytes).toBe(sum(images.filter((i) => i.good === true).map((i) => i.sizeBytes)));
      expect(group.byStatus.find((s: { status: string }) => s.status === "LOCAL_ONLY").sizeBytes).toBe(group.localOnlyBytes);
      expect(group.byRating.find((r: { rating: string }) => r.rating === "UNRATED").sizeBytes).toBe(
        sum(images.filter((i) => i.good === null).map((i) => i.sizeBytes)),
      );
    }
  });

  it("selects images as well as actors: figures, groups by generation type and by actor follow the image filter", async () => {
    const { body } = await world.graphql(`{ stats(filter: { gender: "female" }, imageFilter: { status: [LOCAL_ONLY], rating: [GOOD] }) {
      actorCount images { totalCount totalSizeBytes } byGender { key totalCount }
      byActor(first: 500) { key totalCount totalSizeBytes }
      byGenerationType { type statistics { totalCount localOnlyCount } }
    } }`);
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    const picked = plan
      .filter((a) => a.gender === "female")
      .map((a) => ({ actor: a, images: a.images.filter((i) => i.status === "local_only" && i.good === true) }));
    const images = picked.flatMap((p) => p.images);
    expect(images.length).toBeGreaterThan(0);
    const stats = body.data.stats;
    expect(stats.images).toEqual({ totalCount: images.length, totalSizeBytes: sum(images.map((i) => i.sizeBytes)) });
    expect(stats.actorCount).toBe(picked.filter((p) => p.images.length > 0).length);
    expect(stats.byGender).toEqual([{ key: "female", totalCount: images.length }]);
    const byActor = picked
      .filter((p) => p.images.length > 0)
      .map((p) => ({ key: p.actor.name, totalCount: p.images.length, totalSizeBytes: sum(p.images.map((i) => i.sizeBytes)) }));
    expect([...stats.byActor].sort((a, b) => a.key.localeCompare(b.key))).toEqual(byActor.sort((a, b) => a.key.localeCompare(b.key)));
    const typeOf = (a: FixtureActor, key: number) => a.generations.find((g) => g.key === key)!.type;
    for (const group of stats.byGenerationType) {
      const expected = picked.flatMap((p) => p.images.filter((i) => typeOf(p.actor, i.generationKey) === group.type));
      expect(group.statistics, group.type).toEqual({ totalCount: expected.length, localOnlyCount: expected.length });
    }
  });

  it("finds exact duplicates (same MD5) within and across actors, as a figure and as a list", async () => {
    const byMd5 = new Map<string, { actor: string; filename: string }[]>();
    for (const actor of plan)
      for (const image of actor.images)
        byMd5.set(image.md5, [...(byMd5.get(image.md5) ?? []), { actor: actor.name, filename: image.filename }]);
    const groups = [...byMd5.entries()].filter(([, copies]) => copies.length > 1);
    const across = groups.filter(([, copies]) => new Set(copies.map((c) => c.actor)).size > 1);
    expect(across.length).toBeGreaterThan(0);
    expect(groups.length).toBeGreaterThan(across.length);
    const { body } = await world.graphql(`{
      stats { duplicates { groupCount imageCount withinActorGroupCount acrossActorsGroupCount } }
      duplicateImages(first: 100) { totalCount nodes { md5 imageCount actorCount images { filename actor { name } } } }
      within: duplicateImages(acrossActors: false) { totalCount }
      flagged: images(first: 500, filter: { duplicate: true }) { totalCount nodes { md5 } }
      unique: images(first: 1, filter: { duplicate: false }) { totalCount }
    }`);
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    expect(body.data.stats.duplicates).toEqual({
      groupCount: groups.length,
      imageCount: sum(groups.map(([, copies]) => copies.length)),
      withinActorGroupCount: groups.length - across.length,
      acrossActorsGroupCount: across.length,
    });
    expect(body.data.duplicateImages.totalCount).toBe(groups.length);
    expect(body.data.within.totalCount).toBe(groups.length - across.length);
    expect(body.data.flagged.totalCount).toBe(sum(groups.map(([, copies]) => copies.length)));
    const repeated = new Set(groups.map(([md5]) => md5));
    expect(body.data.flagged.nodes.filter((node: { md5: string }) => repeated.has(node.md5))).toHaveLength(body.data.flagged.totalCount);
    expect(body.data.unique.totalCount).toBe(sum(plan.map((actor) => actor.images.length)) - body.data.flagged.totalCount);
    const largest = body.data.duplicateImages.nodes[0];
    const copies = byMd5.get(largest.md5)!;
    expect(largest.imageCount).toBe(Math.max(...groups.map(([, c]) => c.length)));
    expect(
      largest.images.map((i: { filename: string; actor: { name: string } }) => ({ actor: i.actor.name, filename: i.filename })),
    ).toEqual(copies);
  });
});
