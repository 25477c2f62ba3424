import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { countStatements, insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

let world: ApiWorld;

beforeEach(() => {
  world = makeApiWorld();
  insertActors(world.ctx.db, planActors(120, () => 25));
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
    // actors page, generations by actor, image pages, generations by id; actors by id are already loaded.
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
});
