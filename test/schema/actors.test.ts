import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectBadInput, insertActors, makeApiWorld, planActors, type ApiWorld, type FixtureActor } from "../helpers/api-world.ts";

let world: ApiWorld;
let plan: FixtureActor[];

beforeAll(() => {
  world = makeApiWorld();
  plan = planActors(40);
  insertActors(world.ctx.db, plan);
});
afterAll(() => world.dispose());

const actorsQuery = /* GraphQL */ `
  query ($filter: ActorFilterInput, $orderBy: ActorOrderInput, $first: Int, $after: String) {
    actors(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      totalCount nodes { name statistics { totalCount goodCount totalSizeBytes } } edges { cursor } pageInfo { hasNextPage endCursor }
    }
  }`;

async function allNames(variables: Record<string, unknown>, pageSize = 7): Promise<string[]> {
  const names: string[] = [];
  let after: string | null = null;
  for (;;) {
    const response = await world.graphql(actorsQuery, { ...variables, first: pageSize, after });
    const connection: any = response.body.data.actors;
    expect(response.body.errors).toBeUndefined();
    names.push(...connection.nodes.map((n: { name: string }) => n.name));
    if (!connection.pageInfo.hasNextPage) return names;
    after = connection.pageInfo.endCursor;
  }
}

const total = (a: FixtureActor) => a.images.length;
const good = (a: FixtureActor) => a.images.filter((i) => i.good === true).length;
const size = (a: FixtureActor) => a.images.reduce((sum, i) => sum + i.sizeBytes, 0);
const byThenId = (key: (a: FixtureActor) => number | string, descending = false) => {
  const indexed = plan.map((a, id) => ({ a, id }));
  indexed.sort((x, y) => {
    const kx = key(x.a);
    const ky = key(y.a);
    const c = kx < ky ? -1 : kx > ky ? 1 : x.id - y.id;
    return descending ? -c : c;
  });
  return indexed.map((x) => x.a.name);
};

describe("actors", () => {
  it("pages through every actor by name with stable cursors", async () => {
    expect(await allNames({})).toEqual([...plan.map((a) => a.name)].sort());
  });

  it("orders by image count, good count, size and last checked, ties broken the same way on every page", async () => {
    expect(await allNames({ orderBy: { field: "IMAGE_COUNT" } })).toEqual(byThenId(total));
    expect(await allNames({ orderBy: { field: "GOOD_COUNT", descending: true } })).toEqual(byThenId(good, true));
    expect(await allNames({ orderBy: { field: "SIZE", descending: true } }, 3)).toEqual(byThenId(size, true));
    expect(await allNames({ orderBy: { field: "LAST_CHECKED" } })).toEqual(byThenId((a) => a.lastCheckedAt ?? ""));
  });

  it("filters on name parts, counts, statuses, ratings and generation types", async () => {
    const cases: [Record<string, unknown>, (a: FixtureActor) => boolean][] = [
      [{ descriptors: ["east_asian"], genders: ["female"] }, (a) => a.descriptor === "east_asian" && a.gender === "female"],
      [{ age: { gte: 30, lte: 45 } }, (a) => a.age! >= 30 && a.age! <= 45],
      [{ goodCount: { lt: 3 } }, (a) => good(a) < 3],
      [{ gender: "female", goodCount: { lt: 5 } }, (a) => a.gender === "female" && good(a) < 5],
      [{ totalCount: { gte: 8 } }, (a) => total(a) >= 8],
      [{ totalCount: { eq: 5 } }, (a) => total(a) === 5],
      [{ totalSizeBytes: { gt: 700_000 } }, (a) => size(a) > 700_000],
      [{ lastCheckedAt: { lt: "2025-04-01T00:00:00Z" } }, (a) => a.lastCheckedAt !== null && a.lastCheckedAt < "2025-04-01T00:00:00Z"],
      [{ withStatus: ["OUT_OF_SYNC", "MISSING"] }, (a) => a.images.some((i) => i.status === "out_of_sync" || i.status === "missing")],
      [{ hasUnchecked: false }, (a) => a.images.every((i) => i.status !== null)],
      [{ hasUnrated: true }, (a) => a.images.some((i) => i.good === null)],
      [{ generationTypes: ["replicate_flux_kontext"] }, (a) => a.generations.some((g) => g.type === "replicate_flux_kontext")],
      [{ neverChecked: true }, (a) => a.lastCheckedAt === null],
      [{ nameContains: "_5" }, (a) => a.name.includes("_5")],
      [{ characterIds: ["0003", "0017"] }, (a) => a.characterId === "0003" || a.characterId === "0017"],
    ];
    for (const [filter, predicate] of cases) {
      const expected = plan
        .filter(predicate)
        .map((a) => a.name)
        .sort();
      expect(expected.length, JSON.stringify(filter)).toBeGreaterThan(0);
      expect(expected.length, JSON.stringify(filter)).toBeLessThan(plan.length);
      expect(await allNames({ filter }), JSON.stringify(filter)).toEqual(expected);
      const counted = await world.graphql(actorsQuery, { filter, first: 1 });
      expect(counted.body.data.actors.totalCount).toBe(expected.length);
    }
  });

  it("refuses garbage and a cursor of another order as a bad `after`", async () => {
    const garbage = await world.graphql(actorsQuery, { after: "%%%" });
    expect(garbage.body.data.actors).toBeNull();
    expectBadInput(garbage.body.errors, "after");
    const byName = await world.graphql(actorsQuery, { first: 2 });
    const cursor = byName.body.data.actors.pageInfo.endCursor;
    const other = await world.graphql(actorsQuery, { after: cursor, orderBy: { field: "GOOD_COUNT" } });
    expectBadInput(other.body.errors, "after");
    const tampered = Buffer.from(JSON.stringify(["actors:name:asc", { not: "a position" }])).toString("base64url");
    const malformed = await world.graphql(actorsQuery, { after: tampered });
    expect(expectBadInput(malformed.body.errors, "after").message).toContain("malformed position");
  });

  it("refuses contradictions, negatives and empty lists, naming the argument; offers no backward paging", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ filter: { age: { gt: 50, lt: 20 } } }, "filter.age"],
      [{ filter: { goodCount: { gt: 3, lte: 3 } } }, "filter.goodCount"],
      [{ filter: { genders: [] } }, "filter.genders"],
      [{ first: -1 }, "first"],
    ];
    for (const [variables, argument] of cases) {
      const response = await world.graphql(actorsQuery, variables);
      expect(response.body.data.actors, JSON.stringify(variables)).toBeNull();
      expectBadInput(response.body.errors, argument);
    }
    const badTime = await world.graphql(actorsQuery, { filter: { lastCheckedAt: { lt: "yesterday-ish" } } });
    expect(badTime.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(badTime.body.errors?.[0]?.message).toContain("DateTime");
    const backward = await world.graphql(`{ actors(last: 3, before: "x") { totalCount } }`);
    expect(backward.body.errors?.map((error: { message: string }) => error.message)).toEqual([
      'Unknown argument "last" on field "Query.actors".',
      'Unknown argument "before" on field "Query.actors".',
    ]);
  });
});
