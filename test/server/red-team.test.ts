import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { maxIndexedActors } from "../../src/db/image-queries.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { maxAliases } from "../../src/schema/query-cost.ts";
import { startServer } from "../../src/server.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

/**
 * Attacks on the real server (SPEC.md §9), each found by red-teaming after issue 9's fixes:
 * the request goes over a socket to `startServer`, as an attacker's would.
 */

const worlds: ApiWorld[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolveClose) => server.close(resolveClose));
  for (const w of worlds.splice(0)) w.dispose();
});

async function serve(actorCount = 3): Promise<{ world: ApiWorld; port: number }> {
  const world = makeApiWorld({ env: { PORT: "0" } });
  worlds.push(world);
  insertActors(world.ctx.db, planActors(actorCount, () => 1));
  const server = await startServer(world.ctx);
  servers.push(server);
  return { world, port: (server.address() as AddressInfo).port };
}

async function post(port: number, query: string, variables?: Record<string, unknown>) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] } };
}

describe("red team: query cost", () => {
  it("costs a long list of actor names in the variables like the table it makes the query read", async () => {
    // Variables carry any number of names at no token cost; each named actor's rows were read in
    // one statement, costed as a page: 15 aliases × 10,000 names held the service 11 s.
    const actorCount = maxIndexedActors * 2;
    const { world, port } = await serve(actorCount);
    world.ctx.db.$client
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO images (actor_id, filename, size_bytes, prompt) SELECT 1 + i % ?, 'bulk_' || i || '.jpg', 1000, 'a prompt' FROM n`,
      )
      .run(200_000, actorCount);
    refreshActorStatistics(world.ctx.db, Array.from({ length: actorCount }, (_, i) => i + 1));
    const names = planActors(actorCount, () => 1).map((actor) => actor.name);
    const field = (i: number) => `a${i}: images(first: 1, filter: { promptContains: "zz${i}" }, actorFilter: { names: $names }) { nodes { filename } }`;
    const query = (count: number) => `query ($names: [String!]) { ${Array.from({ length: count }, (_, i) => field(i)).join(" ")} }`;

    const many = await post(port, query(maxAliases), { names });
    expect(many.body.data).toBeUndefined();
    expect(many.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX" });

    // One such field is answered, by a scan that takes turns with other requests.
    const one = await post(port, query(1), { names });
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.a0.nodes).toEqual([]);
    // A few names are still a lookup through the index, costed as its page.
    const few = await post(port, query(maxAliases), { names: names.slice(0, 3) });
    expect(few.body.errors).toBeUndefined();
  }, 120_000);
});

