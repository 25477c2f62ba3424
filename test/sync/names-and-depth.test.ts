import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { actors } from "../../src/db/schema.ts";
import { graphqlEndpoint, type Api } from "../../src/server.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { listObjects } from "../../src/sync/s3/s3-client.ts";
import { makeActor } from "../helpers/actors.ts";
import { cli, cliEnv, cliJson } from "../helpers/cli.ts";
import type { World } from "../helpers/world.ts";
import { useS3ApiWorlds } from "../helpers/api-world.ts";

// Attacks of issue 9 (items 5 and 6) through the real API and CLI: hostile names and deep JSON.

const worlds = useS3ApiWorlds();
let world: World;
let api: Api;

const A = "0042_european_30_male";

/**
 * Sends one file through `addImages` as a browser does (GraphQL multipart request), named by
 * the file itself or, `asArgument`, by the `filename` argument.
 */
async function upload(filename: string, options: { asArgument?: boolean } = {}): Promise<any> {
  const body = new FormData();
  body.set(
    "operations",
    JSON.stringify({
      query: `mutation ($file: File!, $filename: String) { addImages(name: "${A}", images: [{ file: $file, filename: $filename }]) {
        __typename ... on InvalidFilenameError { value reason } ... on ImageOperationPayload { failedSteps steps { filename ok error } } ... on Error { message } } }`,
      variables: { file: null, filename: options.asArgument ? filename : null },
    }),
  );
  body.set("map", JSON.stringify({ 0: ["variables.file"] }));
  body.set("0", new File([new Uint8Array(Buffer.from("not really a jpeg"))], filename, { type: "image/jpeg" }));
  const response = await api.fetch(`http://127.0.0.1${graphqlEndpoint}`, { method: "POST", headers: { "x-graphql-yoga-csrf": "1" }, body });
  const answer = (await response.json()) as any;
  expect(answer.errors).toBeUndefined();
  return answer.data.addImages;
}

/** Everything the attack could have changed: the files of the data directory (SQLite aside) and every object of the bucket. */
async function footprint(): Promise<{ files: string[]; keys: string[] }> {
  const files = readdirSync(world.dataDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith("actor-manifests.db"))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  const keys: string[] = [];
  for await (const object of listObjects(world.s3.client, world.config.s3.bucket, "")) keys.push(object.key);
  return { files, keys: keys.sort() };
}

describe("filenames from a request are data", () => {
  const refused: [string, string, RegExp, { asArgument?: boolean }][] = [
    ["recovery's own temporary-file prefix", ".am-download.evil.jpg", /starts with '\.'/, {}],
    ["a leading dot", ".hidden.jpg", /starts with '\.'/, {}],
    // 130 characters, 256 bytes: a limit counted in characters lets it through.
    ["a name over 255 bytes (UTF-8) though under 255 characters", `${"é".repeat(126)}.jpg`, /longer than 255 bytes/, { asArgument: true }],
  ];
  for (const [label, filename, rule, options] of refused) {
    it(`addImages refuses ${label} with InvalidFilenameError naming the rule, writing nothing`, async () => {
      ({ world, api } = await worlds.open());
      await makeActor(world, { name: A, images: [{ local: true, s3: true }] });
      const before = await footprint();
      const result = await upload(filename, options);
      expect(result).toMatchObject({ __typename: "InvalidFilenameError", value: filename, reason: expect.stringMatching(rule) });
      expect(await footprint()).toEqual(before);
    });
  }

  it("refuses a filename that would make an S3 key over 1024 bytes, naming the limit", async () => {
    // A long configured prefix: actor name and filename are each within 255 bytes, the key is not within 1024.
    ({ world, api } = await worlds.open({ env: { S3_PREFIX: "long-prefix/".repeat(70) } }));
    await makeActor(world, { name: A, images: [] });
    const filename = `${A}_${"7".repeat(200)}.jpg`;
    const before = await footprint();
    const result = await upload(filename);
    expect(result).toMatchObject({
      __typename: "InvalidFilenameError",
      value: filename,
      reason: expect.stringMatching(/S3 key longer than 1024 bytes/),
    });
    expect(await footprint()).toEqual(before);
  });

  it("adds an image with a 230-byte name: its temporary files fit the file system's 255-byte limit too", async () => {
    ({ world, api } = await worlds.open());
    await makeActor(world, { name: A, images: [] });
    // Staged as `.am-download.{name}.{hex}.tmp`, this name made a 256-byte file name: "Unexpected error.".
    // (Longer names are valid in S3 but not in s3rver, which stores each object as a file named after its key.)
    const filename = `${A}_${"7".repeat(230 - A.length - 5)}.jpg`;
    expect(Buffer.byteLength(filename)).toBe(230);
    const result = await upload(filename);
    expect(result).toMatchObject({ __typename: "ImageOperationPayload", failedSteps: 0, steps: [{ filename, ok: true }] });
    expect(existsSync(world.ctx.layout.imagePath(A, filename))).toBe(true);
    expect((await footprint()).keys).toEqual([s3KeyOf(world.config.s3, A, filename)]);
  });
});

/** A format A manifest whose unknown field `notes` nests `levels` objects deep (text built by hand: JSON.stringify overflows on it). */
function writeDeepManifest(characterId: string, name: string, levels: number): string {
  const path = world.ctx.layout.formatAPath(characterId);
  const notes = `${'{"a":'.repeat(levels - 1)}{}${"}".repeat(levels - 1)}`;
  mkdirSync(world.ctx.layout.manifestsDir, { recursive: true });
  writeFileSync(path, `{"character_id":"${characterId}","character_name":"${name}","training_data":[],"notes":${notes}}`);
  return path;
}

const healthy = ["0001_european_20_female", "0003_east_asian_40_male"];

describe("JSON nested deeper than 64 levels", () => {
  it("is refused at import with file and JSON path; the other actors import, export and sync", async () => {
    ({ world } = await worlds.open({ s3: false }));
    const env = cliEnv(world);
    for (const name of healthy) await makeActor(world, { name, images: [{ local: true }], importAfter: false });
    const deep = writeDeepManifest("0002", "0002_nordic_50_male", 20_000);
    const deepBytes = readFileSync(deep);
    // At the limit is fine: 64 levels in all, the manifest itself being the first.
    writeDeepManifest("0004", "0004_latina_22_female", 63);

    const imported = await cliJson<{ problems: unknown[] }>(["import"], env);
    expect(imported.code).toBe(4); // partly done
    const report = imported.envelope.result;
    expect(report.problems).toEqual([{ file: deep, jsonPath: `$.notes${".a".repeat(63)}`, reason: "nested deeper than 64 levels" }]);
    const names = world.db
      .select({ name: actors.name })
      .from(actors)
      .all()
      .map((row) => row.name)
      .sort();
    expect(names).toEqual([healthy[0], "0003_east_asian_40_male", "0004_latina_22_female"]);

    const exported = await cliJson<{ problems: unknown[] }>(["export", "--force"], env);
    expect(exported.stderr).toBe("");
    expect(exported.envelope.result.problems).toEqual([]);
    expect(exported.code).toBe(0);

    const synced = await cliJson<{ failedActors: unknown[] }>(["sync", "--all"], env);
    expect(synced.envelope.result.failedActors).toEqual([]);
    expect(synced.code).toBe(0);
    expect((await footprint()).keys).toEqual(healthy.map((name) => s3KeyOf(world.config.s3, name, `${name}_0.jpg`)).sort());
    expect(readFileSync(deep)).toEqual(deepBytes);
  });
});

describe("an actor whose manifest cannot be written", () => {
  it("is named in export and sync, and never stops the others", async () => {
    ({ world } = await worlds.open({ s3: false }));
    const env = cliEnv(world);
    const broken = "0000_european_33_male"; // sorted first: before, its failure stopped every actor after it
    // Nothing to copy, but a status the audit corrects: only its manifest has to be written.
    await makeActor(world, { name: broken, images: [{ local: true, s3: true, status: "local_only" }], importAfter: false });
    for (const name of healthy) await makeActor(world, { name, images: [{ local: true }], importAfter: false });
    expect((await cli(["import"], env)).code).toBe(0);
    // The manifest becomes a folder: reading and replacing it fail (EISDIR), whoever runs.
    const brokenPath = world.ctx.layout.formatAPath("0000");
    rmSync(brokenPath);
    mkdirSync(brokenPath);
    // The others lose theirs: an export has to write them again.
    for (const name of healthy) rmSync(world.ctx.layout.formatAPath(name.slice(0, 4)));

    const exported = await cliJson(["export", "--force"], env);
    expect(exported.code).toBe(4); // partly done
    expect(exported.envelope.result).toMatchObject({
      filesWritten: healthy.map((name) => world.ctx.layout.formatAPath(name.slice(0, 4))),
      problems: [{ file: brokenPath, reason: expect.stringContaining(`${brokenPath}: not written`) }],
    });

    const synced = await cliJson<{ failedActors: unknown[] }>(["sync", "--all"], env);
    expect(synced.code).toBe(4); // partly done
    const report = synced.envelope.result;
    expect(report.failedActors).toEqual([{ name: broken, error: expect.stringContaining(brokenPath) }]);
    // The others were uploaded and written through.
    expect((await footprint()).keys).toEqual(
      expect.arrayContaining(healthy.map((name) => s3KeyOf(world.config.s3, name, `${name}_0.jpg`))),
    );
    for (const name of healthy)
      expect(JSON.parse(readFileSync(world.ctx.layout.formatAPath(name.slice(0, 4)), "utf8")).training_data[0].status).toBe("synced");
  });
});
