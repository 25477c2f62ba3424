import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { images } from "../../src/db/schema.ts";
import { countStatements, insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

let world: ApiWorld;

beforeEach(() => {
  world = makeApiWorld();
  insertActors(
    world.ctx.db,
    planActors(120, () => 25),
  );
});
afterEach(() => world.dispose());

const query = /* GraphQL */ `
  {
    actors(first: 100) {
      nodes {
        name
        statistics { totalCount syncedCount goodCount totalSizeBytes }
        generations { type }
        trainingImages(first: 20) {
          totalCount
          nodes { filename status good generation { type } actor { name } }
        }
      }
    }
  }`;

describe("batching", () => {
  it("reads 100 actors with statistics and their first 20 images in a handful of statements", async () => {
    const statements = countStatements(world.ctx.db);
    const { body } = await world.graphql(query);
    statements.stop();
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    const actors = body.data.actors.nodes;
    expect(actors).toHaveLength(100);
    for (const actor of actors) {
      expect(actor.trainingImages.nodes).toHaveLength(20);
      expect(actor.trainingImages.totalCount).toBe(25);
      expect(actor.trainingImages.nodes[0].actor.name).toBe(actor.name);
    }
    // actors page, generations by actor (for actors and for images), image pages.
    expect(statements.sql.length, statements.sql.join("\n---\n")).toBeLessThanOrEqual(5);
  });

  it("keeps the count constant when the page grows", async () => {
    const small = countStatements(world.ctx.db);
    await world.graphql(query.replace("first: 100", "first: 10"));
    small.stop();
    const large = countStatements(world.ctx.db);
    await world.graphql(query);
    large.stop();
    expect(large.count).toBe(small.count);
  });

  it("answers an actor's images' URLs, generation and actor from what the page read", async () => {
    const [actor] = planActors(1);
    // An image without a recorded key builds its URL from the actor's name.
    world.ctx.db.update(images).set({ s3Key: null }).where(eq(images.filename, actor!.images[0]!.filename)).run();
    const statements = countStatements(world.ctx.db);
    const { body } = await world.graphql(
      `query ($name: String!) {
      actor(name: $name) { trainingImages(first: 5) { nodes { filename s3Url viewUrl generation { type } actor { name } } } }
    }`,
      { name: actor!.name },
    );
    statements.stop();
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    const [first] = body.data.actor.trainingImages.nodes;
    expect(first).toMatchObject({ filename: actor!.images[0]!.filename, actor: { name: actor!.name } });
    expect(first.s3Url).toMatch(new RegExp(`/${actor!.name}/${actor!.images[0]!.filename}$`));
    expect(first.viewUrl).toBe(`/images/${actor!.name}/${actor!.images[0]!.filename}`);
    expect(first.generation.type).toBe(actor!.generations[0]!.type);
    // Generations come from the paged actors' generations, read once: no generation is loaded by id (a promise per image).
    const byId = statements.sql.filter((sql) => /WHERE g\.id IN/.test(sql));
    expect(byId, statements.sql.join("\n---\n")).toEqual([]);
  });
});
