import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Api } from "../../src/server.ts";
import { makeActor } from "../helpers/actors.ts";
import type { World } from "../helpers/world.ts";
import { useS3ApiWorlds } from "../helpers/api-world.ts";
import { graphqlData } from "../helpers/graphql-data.ts";

const worlds = useS3ApiWorlds();
let world: World;
let api: Api;

/** Any GraphQL error fails the test (graphqlData throws it). */
const graphql = (query: string, variables?: Record<string, unknown>) => graphqlData(api, query, variables);

const A = "0001_european_30_male";
const B = "0002_african_40_female";

const rate = `mutation ($filter: TrainingImageFilterInput, $actorFilter: ActorFilterInput, $maxImages: Int) {
  rateSelection(filter: $filter, actorFilter: $actorFilter, rating: GOOD, maxImages: $maxImages) {
    __typename
    ... on RateSelectionPayload { imageCount failedSteps actors { name statistics { goodCount } } }
    ... on BadFilterError { field }
  }
}`;

describe("rateSelection", () => {
  it("rates what a filter picks across actors, into each actor's prompt_metadata.json and statistics", async () => {
    ({ world, api } = await worlds.open({ s3: false }));
    await makeActor(world, { name: A, images: [{ local: true }, { local: true }, { local: true }] });
    await makeActor(world, { name: B, images: [{ local: true }, { local: true }] });
    const picked = [`${A}_0.jpg`, `${A}_2.jpg`, `${B}_1.jpg`];
    const data = await graphql(rate, { filter: { filenames: picked } });
    expect(data.rateSelection).toMatchObject({ __typename: "RateSelectionPayload", imageCount: 3, failedSteps: 0 });
    expect(data.rateSelection.actors).toEqual([
      { name: A, statistics: { goodCount: 2 } },
      { name: B, statistics: { goodCount: 1 } },
    ]);
    const ratings = JSON.parse(readFileSync(world.ctx.layout.promptMetadataPath(A), "utf8"));
    const good = (entry: unknown) => (entry as { good?: boolean }).good === true;
    const rated = Array.isArray(ratings)
      ? ratings.filter(good).map((e: { filename: string }) => e.filename)
      : Object.keys(ratings).filter((k) => good(ratings[k]));
    expect(rated.sort()).toEqual([`${A}_0.jpg`, `${A}_2.jpg`]);
    // Nothing else changed: the actor filter narrows, and an empty selection or one over the limit is refused.
    const narrowed = await graphql(rate, { actorFilter: { name: B } });
    expect(narrowed.rateSelection).toMatchObject({ imageCount: 2, actors: [{ name: B, statistics: { goodCount: 2 } }] });
    expect((await graphql(rate, {})).rateSelection).toEqual({ __typename: "BadFilterError", field: "filter" });
    expect((await graphql(rate, { actorFilter: { name: A }, maxImages: 2 })).rateSelection).toEqual({
      __typename: "BadFilterError",
      field: "maxImages",
    });
  });
});
