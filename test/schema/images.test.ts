import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectBadInput, insertActors, makeApiWorld, planActors, type ApiWorld, type FixtureActor } from "../helpers/api-world.ts";

let world: ApiWorld;
let plan: FixtureActor[];

beforeAll(() => {
  world = makeApiWorld();
  plan = planActors(25);
  insertActors(world.ctx.db, plan);
});
afterAll(() => world.dispose());

const imagesQuery = /* GraphQL */ `
  query ($filter: TrainingImageFilterInput, $actorFilter: ActorFilterInput, $first: Int, $after: String) {
    images(filter: $filter, actorFilter: $actorFilter, first: $first, after: $after) {
      totalCount nodes { filename actor { name } } pageInfo { hasNextPage endCursor }
    }
  }`;

async function allFilenames(variables: Record<string, unknown>): Promise<string[]> {
  const names: string[] = [];
  let after: string | null = null;
  for (;;) {
    const response = await world.graphql(imagesQuery, { ...variables, first: 13, after });
    const connection: any = response.body.data.images;
    expect(response.body.errors).toBeUndefined();
    names.push(...connection.nodes.map((n: { filename: string }) => n.filename));
    if (!connection.pageInfo.hasNextPage) return names;
    after = connection.pageInfo.endCursor;
  }
}

const everyImage = () => plan.flatMap((a) => a.images.map((i) => ({ actor: a, image: i })));

describe("images across actors", () => {
  it("pages through every image in recorded order", async () => {
    expect(await allFilenames({})).toEqual(everyImage().map((x) => x.image.filename));
  });

  it("combines image and actor filters", async () => {
    const expected = everyImage()
      .filter((x) => x.image.status === "local_only" && x.image.good !== false && x.actor.gender === "female")
      .map((x) => x.image.filename);
    expect(expected.length).toBeGreaterThan(0);
    const names = await allFilenames({
      filter: { status: ["LOCAL_ONLY"], rating: ["GOOD", "UNRATED"] },
      actorFilter: { genders: ["female"] },
    });
    expect(names).toEqual(expected);
    const bigOnes = everyImage().filter((x) => x.image.sizeBytes >= 115_000 && x.image.generationKey === 2);
    const typed = await allFilenames({ filter: { sizeBytes: { gte: 115_000 }, generationTypes: ["upload"] } });
    // Generation key 2 is always "upload"; key 1 is "upload" for every third actor.
    const expectedTyped = everyImage()
      .filter((x) => x.image.sizeBytes >= 115_000 && x.actor.generations.find((g) => g.key === x.image.generationKey)?.type === "upload")
      .map((x) => x.image.filename);
    expect(bigOnes.length).toBeGreaterThan(0);
    expect(typed).toEqual(expectedTyped);
    const prompted = await allFilenames({ filter: { promptContains: "portrait 2 of", checked: true } });
    expect(prompted).toEqual(
      everyImage()
        .filter((x) => x.image.index === 2 && x.image.status !== null)
        .map((x) => x.image.filename),
    );
  });

  it("refuses a bad cursor and a bad actor filter as bad arguments", async () => {
    const cursor = await world.graphql(imagesQuery, { after: "bm90IGEgY3Vyc29y" });
    expect(cursor.body.data.images).toBeNull();
    expectBadInput(cursor.body.errors, "after");
    const filter = await world.graphql(imagesQuery, { actorFilter: { age: { gte: 9, lte: 1 } } });
    expectBadInput(filter.body.errors, "actorFilter.age");
  });
});
