import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore } from "../../src/db/store.ts";
import { cli, cliJson } from "../helpers/cli.ts";
import { insertActors, planActors, type FixtureActor } from "../helpers/api-world.ts";
import { makeStoreWorld, type StoreWorld } from "../helpers/store-world.ts";

let world: StoreWorld;
let fixtures: FixtureActor[];
let env: Record<string, string>;

beforeAll(() => {
  world = makeStoreWorld();
  fixtures = planActors(6);
  insertActors(world.ctx.db, fixtures);
  // The CLI opens the file itself, as it would next to a running server.
  closeStore(world.ctx.db);
  env = { DATA_DIR: world.dataDir, HOME: world.dataDir, S3_EMBEDDED: "false" };
});
afterAll(() => {
  world.reopen();
  world.dispose();
});

const good = (actor: FixtureActor) => actor.images.filter((image) => image.good === true).length;

describe("read commands answer as the GraphQL API does (SPEC.md §9)", () => {
  it("ls lists the actors a filter picks, ordered as asked", async () => {
    const threshold = 3;
    const run = await cliJson<{ totalCount: number; nodes: { name: string; statistics: { goodCount: number } }[] }>(
      ["ls", "--good-below", String(threshold), "--sort", "good_count"],
      env,
    );
    expect(run.code).toBe(0);
    const listed = run.envelope.result;
    const expected = fixtures.filter((actor) => good(actor) < threshold).sort((a, b) => good(a) - good(b) || a.name.localeCompare(b.name));
    expect(listed.totalCount).toBe(expected.length);
    expect(listed.nodes.map((node) => node.statistics.goodCount)).toEqual(expected.map(good));
    expect(new Set(listed.nodes.map((node) => node.name))).toEqual(new Set(expected.map((actor) => actor.name)));
  });

  it("ls --actor lists one actor's images (by name or id) with status and rating", async () => {
    const actor = fixtures[1]!;
    const run = await cli(["ls", "--actor", actor.characterId!], env);
    expect(run.code).toBe(0);
    for (const image of actor.images) expect(run.stdout).toContain(image.filename);
    expect(run.stdout).toContain(`${actor.images.length} images of ${actor.name}`);
    const unknown = await cli(["ls", "--actor", "nobody"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no actor with name "nobody"/);
  });

  it("stats --by gender groups images and bytes by status", async () => {
    const run = await cliJson<{ images: { totalCount: number }; groups: { key: string; totalCount: number; localOnlyCount: number }[] }>(
      ["stats", "--by", "gender"],
      env,
    );
    expect(run.code).toBe(0);
    const stats = run.envelope.result;
    expect(stats.images.totalCount).toBe(fixtures.reduce((sum, actor) => sum + actor.images.length, 0));
    for (const gender of new Set(fixtures.map((actor) => actor.gender!))) {
      const images = fixtures.filter((actor) => actor.gender === gender).flatMap((actor) => actor.images);
      expect(stats.groups.find((group) => group.key === gender)).toMatchObject({
        totalCount: images.length,
        localOnlyCount: images.filter((image) => image.status === "local_only").length,
      });
    }
    const colour = await cli(["stats", "--by", "colour"], env);
    expect(colour.code).toBe(2);
    expect(colour.stderr).toMatch(/--by: one of/);
  });

  it("status marks every image not synced as rclone check does and exits 3", async () => {
    const actor = fixtures.find((candidate) => candidate.images.some((image) => image.status === "s3_only"))!;
    const run = await cli(["status", "--actor", actor.name], env);
    expect(run.code).toBe(3);
    for (const image of actor.images) {
      const mark = { synced: null, local_only: "-", s3_only: "+", out_of_sync: "*", missing: "!" }[image.status ?? "missing"] ?? "?";
      if (image.status === "synced") expect(run.stdout).not.toContain(`${actor.name}/${image.filename}\n`);
      else expect(run.stdout).toContain(`${image.status === null ? "?" : mark} ${actor.name}/${image.filename}\n`);
    }
  });
});
