import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectBadInput, insertActors, makeApiWorld, planActors, type ApiWorld, type FixtureActor } from "../helpers/api-world.ts";

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
      name characterId descriptor age gender lastCheckedAt
      statistics { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount uncheckedCount goodCount badCount unratedCount totalSizeBytes }
      generations { key type imageCount }
      trainingImages(first: $first, after: $after, filter: $filter) {
        totalCount
        nodes { filename index status good sizeBytes s3Key s3Url localPath prompt promptPreview generation { type } actor { name } }
        edges { cursor node { filename } }
        pageInfo { hasNextPage hasPreviousPage endCursor }
      }
    }
  }`;

describe("actor", () => {
  it("opens an actor by name with its statistics, generations and images", async () => {
    const expected = plan[5]!;
    const { body } = await world.graphql(actorQuery, { name: expected.name, first: 100 });
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    const actor = body.data.actor;
    expect(actor).toMatchObject({
      name: expected.name,
      characterId: expected.characterId,
      descriptor: expected.descriptor,
      age: expected.age,
      gender: expected.gender,
    });
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
    const nodes = actor.trainingImages.nodes;
    expect(actor.trainingImages.edges.map((e: { node: unknown }) => e.node)).toEqual(
      nodes.map((n: { filename: string }) => ({ filename: n.filename })),
    );
    expect(nodes.map((n: { filename: string }) => n.filename)).toEqual(expected.images.map((i) => i.filename));
    expect(nodes[0]).toMatchObject({
      status: expected.images[0]!.status?.toUpperCase() ?? null,
      good: expected.images[0]!.good,
      sizeBytes: expected.images[0]!.sizeBytes,
      s3Key: `system_actors/training_data/${expected.name}/${expected.images[0]!.filename}`,
      actor: { name: expected.name },
    });
    expect(nodes[0].promptPreview).toBe(expected.images[0]!.prompt);
    // Times carry their zone (DateTime): the fixture's are UTC.
    expect(actor.lastCheckedAt).toBe(expected.lastCheckedAt === null ? null : new Date(expected.lastCheckedAt).toISOString());
    expect(actor.trainingImages.totalCount).toBe(expected.images.length);
  });

  it("finds an actor by character id, with or without leading zeros", async () => {
    for (const characterId of ["0007", "7"]) {
      const { body } = await world.graphql(actorQuery, { characterId, first: 1 });
      expect(body.data.actor.name).toBe(plan[6]!.name);
    }
  });

  it("answers null and a NOT_FOUND error for a name no actor has, and still answers the other fields", async () => {
    const { body } = await world.graphql(`{ actor(name: "9999_nobody_40_male") { name } stats { actorCount } }`);
    expect(body.data).toEqual({ actor: null, stats: { actorCount: plan.length } });
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]).toMatchObject({ path: ["actor"], extensions: { code: "NOT_FOUND", argument: "name" } });
    expect(body.errors![0]!.message).toContain("9999_nobody_40_male");
  });

  it("refuses a name that is a path as a bad argument", async () => {
    const { body } = await world.graphql(actorQuery, { name: "../../etc/passwd" });
    expect(body.data.actor).toBeNull();
    expectBadInput(body.errors, "name");
  });

  it("refuses neither or both of name and characterId as a bad argument", async () => {
    for (const variables of [{}, { name: plan[0]!.name, characterId: "0001" }]) {
      const { body } = await world.graphql(actorQuery, variables);
      expect(body.data.actor).toBeNull();
      expectBadInput(body.errors, "name");
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
      seen.push(...connection.nodes.map((n: { filename: string }) => n.filename));
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
    expect(again1.body.data.actor.trainingImages.nodes[0].filename).toBe(big.images[10]!.filename);
  });

  it("filters an actor's images by status and rating, counting only matches", async () => {
    const big = plan[3]!;
    const { body } = await world.graphql(actorQuery, {
      name: big.name,
      first: 100,
      filter: { status: ["LOCAL_ONLY", "S3_ONLY"], rating: ["GOOD"] },
    });
    const expected = big.images
      .filter((i) => (i.status === "local_only" || i.status === "s3_only") && i.good === true)
      .map((i) => i.filename);
    expect(expected.length).toBeGreaterThan(0);
    const connection = body.data.actor.trainingImages;
    expect(connection.nodes.map((n: { filename: string }) => n.filename)).toEqual(expected);
    expect(connection.totalCount).toBe(expected.length);
    const unchecked = await world.graphql(actorQuery, { name: big.name, first: 100, filter: { checked: false } });
    expect(unchecked.body.data.actor.trainingImages.totalCount).toBe(big.images.filter((i) => i.status === null).length);
  });

  it("refuses a cursor it did not issue, a bad page or a bad filter as a bad argument, keeping the actor", async () => {
    const big = plan[3]!;
    const garbage = await world.graphql(actorQuery, { name: big.name, after: "not-a-cursor" });
    expect(garbage.body.data.actor).toMatchObject({ name: big.name, trainingImages: null });
    expect(expectBadInput(garbage.body.errors, "after").path).toEqual(["actor", "trainingImages"]);
    const actorsPage = await world.graphql(`{ actors(first: 1) { pageInfo { endCursor } } }`);
    const foreign = actorsPage.body.data.actors.pageInfo.endCursor;
    const wrongList = await world.graphql(actorQuery, { name: big.name, after: foreign });
    expectBadInput(wrongList.body.errors, "after");
    const tooMany = await world.graphql(actorQuery, { name: big.name, first: 100_000 });
    expectBadInput(tooMany.body.errors, "first");
    const empty = await world.graphql(actorQuery, { name: big.name, filter: { status: [] } });
    expect(empty.body.data.actor.statistics.totalCount).toBe(big.images.length);
    expectBadInput(empty.body.errors, "filter.status");
  });

  it("looks up one image by filename and refuses a filename that is a path", async () => {
    const query = `query ($name: String!, $filename: String!) { actor(name: $name) { name trainingImage(filename: $filename) { filename } } }`;
    const actor = plan[1]!;
    const found = await world.graphql(query, { name: actor.name, filename: actor.images[2]!.filename });
    expect(found.body.data.actor.trainingImage).toEqual({ filename: actor.images[2]!.filename });
    const upper = await world.graphql(query, { name: actor.name, filename: actor.images[2]!.filename.toUpperCase() });
    expect(upper.body.data.actor.trainingImage).toBeNull();
    expect(upper.body.errors).toBeUndefined();
    const hostile = await world.graphql(query, { name: actor.name, filename: "../x/../../secret.jpg" });
    expect(hostile.body.data.actor).toEqual({ name: actor.name, trainingImage: null });
    expect(expectBadInput(hostile.body.errors, "filename").message).toContain("../x/../../secret.jpg");
  });
});
