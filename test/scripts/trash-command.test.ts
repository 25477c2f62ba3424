import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actorChanges } from "../../src/db/schema.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { bytesFor, makeActor, md5Of } from "../helpers/actors.ts";
import { cli, cliEnv } from "../helpers/cli.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, type World } from "../helpers/world.ts";

let server: TestS3Server;
let world: World;
const A = "0001_european_30_male";
const file = (i: number) => `${A}_${i}.jpg`;
const localVersion = bytesFor("local version");
const s3Version = bytesFor("s3 version", 3000);

beforeAll(async () => {
  server = await startTestS3Server();
  world = await createWorld({ server });
  await makeActor(world, {
    name: A,
    images: [
      { content: localVersion, local: true, s3: s3Version },
      { local: true, s3: true },
    ],
  });
  // The CLI opens the SQLite file itself.
  closeStore(world.db);
});
afterAll(async () => {
  await world?.close();
  await server?.stop();
});

const env = () => cliEnv(world);
const head = (key: string) => headObject(world.s3.client, world.config.s3.bucket, key);

async function list() {
  const listed = await cli(["trash", "list", "--json"], env());
  expect(listed.code, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout).result;
}

describe("actor-manifests trash", () => {
  it("sync --dry-run says what goes to the trash; sync keeps the loser; list, restore and empty it", async () => {
    const dry = await cli(["sync", "--all", "--out-of-sync", "s3", "--dry-run"], env());
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`download ${file(0)} (3.0 kB): out of sync: S3 wins (s3); the local file (2.0 kB) goes to the trash`);
    expect(dry.stdout).toContain("would keep 1 file (2.0 kB) in the trash");

    const synced = await cli(["sync", "--all", "--out-of-sync", "s3"], env());
    expect(synced.code, synced.stderr).toBe(0);
    const afterSync = await list();
    expect(afterSync).toMatchObject({ totalCount: 1, totalBytes: localVersion.length });
    const [item] = afterSync.items;
    expect(item).toMatchObject({
      actorName: A,
      filename: file(0),
      side: "local",
      origin: "repair",
      md5: md5Of(localVersion),
      bytes: localVersion.length,
    });

    const refused = await cli(["trash", "restore", String(item.id)], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`actors/${A}/training_data/${file(0)}: something is there now; nothing was restored`);

    const restored = await cli(["trash", "restore", String(item.id), "--overwrite", "--json"], env());
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ ok: true, result: { restored: [{ id: item.id }], actors: [A] }, problems: [] });
    expect(md5Of(readFileSync(world.ctx.layout.imagePath(A, file(0))))).toBe(md5Of(localVersion));
    // A running server hears of it through the shared log.
    const db = openStore(world.config.dbPath);
    try {
      expect(
        db
          .select()
          .from(actorChanges)
          .all()
          .filter((change) => change.reason === "restore_trash"),
      ).toEqual([expect.objectContaining({ name: A })]);
    } finally {
      closeStore(db);
    }

    // The downloaded content it replaced is now the trash's; delete from S3 adds the object.
    const deleted = await cli(["delete", "--actor", A, "--from", "s3", file(1)], env());
    expect(deleted.code, deleted.stderr).toBe(0);
    const both = await list();
    expect(both.items.map((entry: any) => [entry.origin, entry.side])).toEqual([
      ["restore", "local"],
      ["delete", "s3"],
    ]);
    const object = both.items[1];
    expect(object.trashLocation).toBe(`${world.config.s3.prefix}.trash/${object.id}/${A}/${file(1)}`);

    const dryEmpty = await cli(["trash", "empty", "--all", "--dry-run", "--json"], env());
    expect(dryEmpty.code, dryEmpty.stderr).toBe(0);
    expect(JSON.parse(dryEmpty.stdout)).toMatchObject({ result: { dryRun: true, bytes: s3Version.length + 2048 }, problems: [] });
    expect(await head(object.trashLocation)).not.toBeNull();

    const emptied = await cli(["trash", "empty", "--older-than", "0m"], env());
    expect(emptied.code, emptied.stderr).toBe(0);
    expect(emptied.stdout).toContain("deleted 2 items (5.0 kB) for good");
    expect(await head(object.trashLocation)).toBeNull();
    expect(existsSync(join(world.dataDir, both.items[0].trashLocation))).toBe(false);
  });

  it("names a bad id and an unknown one", async () => {
    const bad = await cli(["trash", "restore", "x1"], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`not a trash item id: "x1"`);
    const unknown = await cli(["trash", "empty", "999"], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no trash item with id 999");
  });
});
