import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { scanWindowRows } from "../../src/db/scan-windows.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { defaultQueryFor } from "../../src/graphiql.ts";
import { maxAliases, maxQueryCost, maxTokens, scannedRowsPerPoint } from "../../src/schema/query-cost.ts";
import { countStatements, insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

const worlds: ApiWorld[] = [];
function world() {
  const w = makeApiWorld();
  worlds.push(w);
  insertActors(w.ctx.db, planActors(3));
  return w;
}
afterEach(() => {
  for (const w of worlds.splice(0)) w.dispose();
});

/** Adds `count` bare image rows to actor 1 in one statement (a table worth scanning, in milliseconds). */
function addImageRows(w: ApiWorld, count: number) {
  w.ctx.db.$client
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO images (actor_id, filename, size_bytes) SELECT 1, 'bulk_' || i || '.jpg', 1000 FROM n`,
    )
    .run(count);
  refreshActorStatistics(w.ctx.db, [1]);
}

const scan = (alias: string) => `${alias}: images(first: 1, filter: { filenameContains: "zzN" }) { nodes { filename } }`;

describe("query cost", () => {
  it("refuses too many aliases before anything runs, naming the limit", async () => {
    const w = world();
    const aliases = Array.from(
      { length: maxAliases + 1 },
      (_, i) => `e${i}: exportManifests(names: ["0001_european_20_male"]) { __typename }`,
    );
    const { body } = await w.graphql(`mutation { ${aliases.join(" ")} }`);
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.message).toContain(`Aliases limit of ${maxAliases} exceeded, found ${maxAliases + 1}`);
    expect(existsSync(w.ctx.layout.manifestsDir)).toBe(false);

    const allowed = await w.graphql(`mutation { e0: exportManifests(names: ["0001_european_20_male"]) { __typename } }`);
    expect(allowed.body.errors).toBeUndefined();
    expect(existsSync(w.ctx.layout.manifestsDir)).toBe(true);
  });

  it("refuses a document of too many tokens", async () => {
    const w = world();
    const { body } = await w.graphql(`{ stats { ${"actorCount ".repeat(maxTokens)} } }`);
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.message).toContain(`Token limit of ${maxTokens} exceeded`);
  });

  it("counts a filter that scans the images table like the table, and refuses a query that multiplies it", async () => {
    const w = world();
    const rows = 100_000;
    addImageRows(w, rows);
    const one = await w.graphql(`{ ${scan("a0")} }`);
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.a0.nodes).toEqual([]);

    const many = await w.graphql(`{ ${Array.from({ length: maxAliases }, (_, i) => scan(`a${i}`)).join(" ")} }`);
    expect(many.body.data).toBeUndefined();
    const error = many.body.errors?.[0];
    expect(error?.message).toMatch(/^Query complexity [\d,]+ is over the limit of [\d,]+\./);
    expect(error?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", maxCost: maxQueryCost });
    expect(error?.extensions?.cost).toBeGreaterThanOrEqual((maxAliases * rows) / scannedRowsPerPoint);

    // The same page without a filter reads a few rows in id order: it costs what it returns.
    const unfiltered = Array.from({ length: maxAliases }, (_, i) => `a${i}: images(first: 1) { nodes { filename } }`);
    expect((await w.graphql(`{ ${unfiltered.join(" ")} }`)).body.errors).toBeUndefined();
    // Named actors are read through the actor_id index.
    const named = await w.graphql(`{ ${scan("a0").replace("filter:", 'actorFilter: { names: ["0001_european_20_male"] }, filter:')} }`);
    expect(named.body.errors).toBeUndefined();
  });

  it("finds matches and counts them across scan windows", async () => {
    const w = world();
    addImageRows(w, 25_000);
    const { body } = await w.graphql(`{ images(first: 2, filter: { filenameContains: "bulk_2499" }) {
      totalCount nodes { filename } pageInfo { hasNextPage } } }`);
    expect(body.errors).toBeUndefined();
    expect(body.data.images.nodes.map((n: { filename: string }) => n.filename)).toEqual(["bulk_2499.jpg", "bulk_24990.jpg"]);
    expect(body.data.images.totalCount).toBe(11);
    expect(body.data.images.pageInfo.hasNextPage).toBe(true);
  });

  it("answers a read sent during a scan before the scan ends: the scan takes turns", async () => {
    const w = world();
    addImageRows(w, 5 * scanWindowRows);
    const statements = countStatements(w.ctx.db);
    const finished: string[] = [];
    const scanning = w.graphql(`{ images(first: 1, filter: { status: [MISSING] }) { totalCount } }`).then((r) => {
      finished.push("scan");
      return r;
    });
    // The read is sent once the scan has read its first window.
    while (!statements.sql.some((sql) => sql.includes("NOT INDEXED"))) await new Promise((resolve) => setImmediate(resolve));
    statements.stop();
    const read = w.graphql(`{ actor(name: "0002_east_asian_27_female") { name } }`).then((r) => {
      finished.push("read");
      return r;
    });
    const [scanned, answered] = await Promise.all([scanning, read]);
    expect(scanned.body.errors).toBeUndefined();
    expect(answered.body.data.actor.name).toBe("0002_east_asian_27_female");
    expect(finished).toEqual(["read", "scan"]);
  });

  it("accepts ordinary queries: GraphiQL's default query and a page of 100 actors with 20 images each", async () => {
    const w = world();
    const graphiql = await w.graphql(defaultQueryFor("0001_european_20_male"));
    expect(graphiql.body.errors).toBeUndefined();
    const page = await w.graphql(`{ actors(first: 100, filter: { age: { gte: 20 } }, orderBy: { field: SIZE }) { totalCount nodes {
      name statistics { totalCount goodCount }
      trainingImages(first: 20) { totalCount nodes { filename status good sizeBytes checkedAt promptPreview } }
    } } stats { actorCount byDescriptor { key totalCount } } }`);
    expect(page.body.errors).toBeUndefined();
    expect(page.body.data.actors.totalCount).toBe(3);
  });
});
