import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDemoData, type DemoDataSet } from "../../src/demo/demo.ts";
import { makeApiWorld, type ApiWorld } from "../helpers/api-world.ts";

let world: ApiWorld;
let demo: DemoDataSet;

beforeAll(async () => {
  world = makeApiWorld();
  demo = await writeDemoData(world.dataDir, { s3: world.ctx.config.s3 });
});
afterAll(() => world.dispose());

describe("import and export mutations", () => {
  it("imports the demo manifests, reporting the broken files, and the queries see them", async () => {
    const { body } = await world.graphql(
      `mutation { importManifests { actorsImported imagesImported problems { file jsonPath reason } } }`,
    );
    expect(body.errors).toBeUndefined();
    const report = body.data.importManifests;
    const healthy = demo.actors.filter((a) => a.healthy);
    expect(report.actorsImported).toBeGreaterThanOrEqual(healthy.length);
    expect(report.problems.length).toBe(demo.brokenFiles.length);
    const stats = await world.graphql(`{ stats { actorCount } }`);
    expect(stats.body.data.stats.actorCount).toBe(report.actorsImported);
    const again = await world.graphql(`mutation { importManifests { actorsImported actorsUnchanged } }`);
    expect(again.body.data.importManifests.actorsImported).toBe(0);
  });

  it("exports an actor's manifests, and answers UnknownActorError for a name it does not know", async () => {
    const actor = demo.actors.find((a) => a.healthy)!;
    const { body } = await world.graphql(
      `mutation ($names: [String!]) { exportManifests(names: $names, force: true) {
      __typename ... on ExportReport { filesWritten actorsExported problems { file reason } } } }`,
      { names: [actor.name] },
    );
    expect(body.errors).toBeUndefined();
    expect(body.data.exportManifests).toMatchObject({ __typename: "ExportReport", problems: [] });
    for (const file of body.data.exportManifests.filesWritten) expect(() => JSON.parse(readFileSync(file, "utf8"))).not.toThrow();
    const unknown = await world.graphql(
      `mutation { exportManifests(names: ["9999_nobody_1_male"]) { __typename ... on UnknownActorError { requestedName } } }`,
    );
    expect(unknown.body.data.exportManifests).toEqual({ __typename: "UnknownActorError", requestedName: "9999_nobody_1_male" });
  });
});
