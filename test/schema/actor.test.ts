import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { insertActors, makeApiWorld, planActors, type ApiWorld, type FixtureActor } from "../helpers/api-world.ts";

let world: ApiWorld;
let plan: FixtureActor[];

beforeEach(() => {
  world = makeApiWorld();
  plan = planActors(12, (n) => (n === 3 ? 45 : 4 + (n % 5)));
  insertActors(world.ctx.db, plan);
});
afterEach(() => world.dispose());

const actorQuery = /* GraphQL */ `
  query ($name: String, $characterId: String, $first: Int, $after: String, $filter: TrainingImageFilterInput) {
    actor(name: $name, characterId: $characterId) {
      __typename
      ... on Actor {
        name characterId descriptor age gender lastCheckedAt
        statistics { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes }
        generations { key type imageCount }
        trainingImages(first: $first, after: $after, filter: $filter) {
          __typename
          ... on TrainingImageConnection {
            totalCount
            edges { cursor node { filename index status good sizeBytes s3Key s3Url localPath prompt promptPreview generation { type } actor { name } } }
            pageInfo { hasNextPage hasPreviousPage endCursor }
          }
          ... on Error { message }
          ... on BadCursorError { cursor reason }
          ... on BadFilterError { field reason }
        }
      }
      ... on UnknownActorError { message requestedName requestedCharacterId }
      ... on InvalidFilenameError { message value reason }
      ... on BadFilterError { message field }
    }
  }`;

describe("actor", () => {
  it("opens an actor by name with its statistics, generations and images", async () => {
    const expected = plan[5]!;
    const { body } = await world.graphql(actorQuery, { name: expected.name, first: 100 });
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    const actor = body.data.actor;
    expect(actor).toMatchObject({ __typename: "Actor", name: expected.name, characterId: expected.characterId, descriptor: expected.descriptor, age: expected.age, gender: expected.gender });
    const count = (status: string | null) => expected.images.filter((i) => i.status === status).length;
    expect(actor.statistics).toEqual({
      totalCount: expected.images.length,
      syncedCount: count("synced"),
      localOnlyCount: count("local_only"),
      s3OnlyCount: count("s3_only"),
      outOfSyncCount: count("out_of_sync"),
      missingCount: count("missing"),
      uncheckedCount: count(null),
      goodCount: expected.images.filter((i) => i.good === true).length,
      badCount: expected.images.filter((i) => i.good === false).length,
      unratedCount: expected.images.filter((i) => i.good === null).length,
      totalSizeBytes: expected.images.reduce((sum, i) => sum + i.sizeBytes, 0),
    });
    expect(actor.generations.map((g: { type: string }) => g.type)).toEqual(expected.generations.map((g) => g.type));
    const nodes = actor.trainingImages.edges.map((e: { node: unknown }) => e.node);
    expect(nodes.map((n: { filename: string }) => n.filename)).toEqual(expected.images.map((i) => i.filename));
    expect(nodes[0]).toMatchObject({
      status: expected.images[0]!.status?.toUpperCase() ?? null,
      good: expected.images[0]!.good,
      sizeBytes: expected.images[0]!.sizeBytes,
      s3Key: `system_actors/training_data/${expected.name}/${expected.images[0]!.filename}`,
      actor: { name: expected.name },
    });
    expect(nodes[0].promptPreview).toBe(expected.images[0]!.prompt);
    expect(actor.trainingImages.totalCount).toBe(expected.images.length);
  });

  it("finds an actor by character id, with or without leading zeros", async () => {
    for (const characterId of ["0007", "7"]) {
      const { body } = await world.graphql(actorQuery, { characterId, first: 1 });
      expect(body.data.actor.name).toBe(plan[6]!.name);
    }
  });

  it("answers UnknownActorError for a name no actor has", async () => {
    const { body } = await world.graphql(actorQuery, { name: "9999_nobody_40_male" });
    expect(body.errors).toBeUndefined();
    expect(body.data.actor).toMatchObject({ __typename: "UnknownActorError", requestedName: "9999_nobody_40_male", requestedCharacterId: null });
  });

  it("answers InvalidFilenameError for a name that is a path", async () => {
    const { body } = await world.graphql(actorQuery, { name: "../../etc/passwd" });
    expect(body.data.actor).toMatchObject({ __typename: "InvalidFilenameError", value: "../../etc/passwd" });
  });

  it("answers BadFilterError when neither or both of name and characterId are given", async () => {
    for (const variables of [{}, { name: plan[0]!.name, characterId: "0001" }]) {
      const { body } = await world.graphql(actorQuery, variables);
      expect(body.data.actor).toMatchObject({ __typename: "BadFilterError", field: "name" });
    }
  });

  it("pages through an actor's images with stable cursors", async () => {
    const big = plan[3]!;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { body }: { body: { data?: any } } = await world.graphql(actorQuery, { name: big.name, first: 10, after });
      const connection: any = body.data.actor.trainingImages;
      expect(connection.__typename).toBe("TrainingImageConnection");
      seen.push(...connection.edges.map((e: { node: { filename: string } }) => e.node.filename));
      expect(connection.pageInfo.hasPreviousPage).toBe(after !== null);
      pages += 1;
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(pages).toBe(Math.ceil(big.images.length / 10));
    // Index order, not string order: _10 comes after _9.
    expect(seen).toEqual(big.images.map((i) => i.filename));
    // The same cursor gives the same page again.
    const first = await world.graphql(actorQuery, { name: big.name, first: 10 });
    const cursor = first.body.data.actor.trainingImages.pageInfo.endCursor;
    const again1 = await world.graphql(actorQuery, { name: big.name, first: 5, after: cursor });
    const again2 = await world.graphql(actorQuery, { name: big.name, first: 5, after: cursor });
    expect(again1.body.data.actor.trainingImages.edges).toEqual(again2.body.data.actor.trainingImages.edges);
    expect(again1.body.data.actor.trainingImages.edges[0].node.filename).toBe(big.images[10]!.filename);
  });

  it("filters an actor's images by status and rating, counting only matches", async () => {
    const big = plan[3]!;
    const { body } = await world.graphql(actorQuery, { name: big.name, first: 100, filter: { status: ["LOCAL_ONLY", "S3_ONLY"], rating: ["GOOD"] } });
    const expected = big.images.filter((i) => (i.status === "local_only" || i.status === "s3_only") && i.good === true).map((i) => i.filename);
    expect(expected.length).toBeGreaterThan(0);
    const connection = body.data.actor.trainingImages;
    expect(connection.edges.map((e: { node: { filename: string } }) => e.node.filename)).toEqual(expected);
    expect(connection.totalCount).toBe(expected.length);
    const unchecked = await world.graphql(actorQuery, { name: big.name, first: 100, filter: { checked: false } });
    expect(unchecked.body.data.actor.trainingImages.totalCount).toBe(big.images.filter((i) => i.status === null).length);
  });

  it("answers BadCursorError for a cursor it did not issue, and BadFilterError for a bad page or filter", async () => {
    const big = plan[3]!;
    const garbage = await world.graphql(actorQuery, { name: big.name, after: "not-a-cursor" });
    expect(garbage.body.data.actor.trainingImages).toMatchObject({ __typename: "BadCursorError", cursor: "not-a-cursor" });
    const actorsPage = await world.graphql(`{ actors(first: 1) { ... on ActorConnection { pageInfo { endCursor } } } }`);
    const foreign = actorsPage.body.data.actors.pageInfo.endCursor;
    const wrongList = await world.graphql(actorQuery, { name: big.name, after: foreign });
    expect(wrongList.body.data.actor.trainingImages.__typename).toBe("BadCursorError");
    const tooMany = await world.graphql(actorQuery, { name: big.name, first: 100_000 });
    expect(tooMany.body.data.actor.trainingImages).toMatchObject({ __typename: "BadFilterError", field: "first" });
    const empty = await world.graphql(actorQuery, { name: big.name, filter: { status: [] } });
    expect(empty.body.data.actor.trainingImages).toMatchObject({ __typename: "BadFilterError", field: "filter.status" });
  });

  it("looks up one image by filename and refuses a filename that is a path", async () => {
    const query = `query ($name: String!, $filename: String!) { actor(name: $name) { ... on Actor { trainingImage(filename: $filename) {
      __typename ... on TrainingImage { filename } ... on InvalidFilenameError { value reason } } } } }`;
    const actor = plan[1]!;
    const found = await world.graphql(query, { name: actor.name, filename: actor.images[2]!.filename });
    expect(found.body.data.actor.trainingImage).toEqual({ __typename: "TrainingImage", filename: actor.images[2]!.filename });
    const upper = await world.graphql(query, { name: actor.name, filename: actor.images[2]!.filename.toUpperCase() });
    expect(upper.body.data.actor.trainingImage).toBeNull();
    const hostile = await world.graphql(query, { name: actor.name, filename: "../x/../../secret.jpg" });
    expect(hostile.body.data.actor.trainingImage).toMatchObject({ __typename: "InvalidFilenameError", value: "../x/../../secret.jpg" });
  });
});
