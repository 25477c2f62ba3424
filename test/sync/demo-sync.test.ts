import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { actors } from "../../src/db/schema.ts";
import { seedDemoS3 } from "../../src/demo/demo-s3.ts";
import { writeDemoData, type DemoDataSet } from "../../src/demo/demo.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { isTrainingImageFilename, s3KeyOf } from "../../src/sync/files/layout.ts";
import { listObjects } from "../../src/sync/s3/s3-client.ts";
import { syncActors, type SyncReport } from "../../src/sync/operations/sync.ts";
import { createWorld, type World } from "../helpers/world.ts";

// The bar of SPEC.md §6: after `import` and `sync --all --out-of-sync local` on the demo data
// set (broken files on purpose), every actor folder holds what its S3 prefix holds, as an
// independent client (here: a plain listing and GETs, no service code) compares them.
let world: World;
let demo: DemoDataSet;
let report: SyncReport;
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
/** An actor only an S3 prefix tells of: no folder, no manifest. */
const ghost = "0099_nordic_40_male";
const truncated = "0032_european_50_male";
let brokenBefore: Map<string, string>;

beforeAll(async () => {
  world = await createWorld();
  demo = await writeDemoData(world.dataDir, { s3: world.config.s3 });
  await seedDemoS3(world.s3.client, world.s3.s3Config, demo.s3Plan);
  const put = (name: string, filename: string, body: string) =>
    world.s3.client.send(
      new PutObjectCommand({ Bucket: world.config.s3.bucket, Key: s3KeyOf(world.config.s3, name, filename), Body: body }),
    );
  await put(ghost, `${ghost}_0.jpg`, "an object no manifest lists");
  // A file no manifest lists, beside a manifest that cannot be read.
  writeFileSync(join(world.dataDir, "actors", truncated, "training_data", `${truncated}_40.jpg`), "new local bytes");
  brokenBefore = new Map(demo.brokenFiles.map((broken) => [broken.path, readFileSync(join(world.dataDir, broken.path), "utf8")]));

  await importManifests(world.ctx);
  report = await syncActors(world.ctx, world.s3, { outOfSync: "local" });
}, 120_000);
afterAll(() => world.close());

/** `{actor: {filename: md5}}` of the training images in every actor folder. */
function localSide(): Map<string, Map<string, string>> {
  const side = new Map<string, Map<string, string>>();
  const actorsDir = join(world.dataDir, "actors");
  for (const name of readdirSync(actorsDir)) {
    const folder = join(actorsDir, name, "training_data");
    const files = new Map<string, string>();
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (entry.isFile() && isTrainingImageFilename(entry.name)) files.set(entry.name, md5(readFileSync(join(folder, entry.name))));
    }
    side.set(name, files);
  }
  return side;
}

/** The same for every actor prefix in the bucket, from the objects' bytes. */
async function s3Side(): Promise<Map<string, Map<string, string>>> {
  const side = new Map<string, Map<string, string>>();
  const { bucket, prefix } = world.config.s3;
  for await (const object of listObjects(world.s3.client, bucket, prefix)) {
    const [name, filename] = object.key.slice(prefix.length).split("/") as [string, string];
    if (!isTrainingImageFilename(filename)) continue;
    const body = await world.s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }));
    const files = side.get(name) ?? new Map<string, string>();
    files.set(filename, md5(await body.Body!.transformToByteArray()));
    side.set(name, files);
  }
  return side;
}

describe("sync --all --out-of-sync local on the demo data set", () => {
  it("leaves every actor folder identical to its S3 prefix (names and MD5s), broken and manifest-less actors included", async () => {
    expect(report.failedActors).toEqual([]);
    expect(report.results.flatMap((result) => result.steps.filter((step) => !step.ok))).toEqual([]);
    const local = localSide();
    const remote = await s3Side();
    const names = [...new Set([...local.keys(), ...remote.keys()])].sort();
    expect(names).toEqual([...demo.actors.map((actor) => actor.name), ghost].sort());
    const differences = names.flatMap((name) => {
      const here = local.get(name) ?? new Map();
      const there = remote.get(name) ?? new Map();
      return [...new Set([...here.keys(), ...there.keys()])]
        .filter((file) => here.get(file) !== there.get(file))
        .map((file) => `${name}/${file}`);
    });
    expect(differences).toEqual([]);
    expect(local.get(ghost)!.size).toBe(1);
    expect(remote.get(truncated)!.has(`${truncated}_40.jpg`)).toBe(true);
  });

  it("lists every actor, and leaves the broken files as they were", () => {
    const listed = world.db
      .select({ name: actors.name })
      .from(actors)
      .all()
      .map((row) => row.name)
      .sort();
    expect(listed).toEqual([...demo.actors.map((actor) => actor.name), ghost].sort());
    for (const [path, text] of brokenBefore) expect(readFileSync(join(world.dataDir, path), "utf8"), path).toBe(text);
  });
});
