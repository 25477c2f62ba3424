import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore } from "../../src/db/store.ts";
import { bytesFor, deleteImageObject, makeActor } from "../helpers/actors.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { cli, cliEnv } from "../helpers/cli.ts";
import { createWorld, type World } from "../helpers/world.ts";

let server: TestS3Server;
let world: World;
const A = "0001_european_30_male";
const B = "0002_african_40_female";

beforeAll(async () => {
  server = await startTestS3Server();
  world = await createWorld({ server });
  await makeActor(world, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
  await makeActor(world, { name: B, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
  await deleteImageObject(world, A, `${A}_0.jpg`);
  // Same size, other content.
  const folder = world.ctx.layout.trainingDir(B);
  const edited = join(folder, `${B}_1.jpg`);
  writeFileSync(edited, bytesFor("edited", statSync(edited).size));
  // The CLI opens the SQLite file itself.
  closeStore(world.db);
});
afterAll(async () => {
  await world?.close();
  await server?.stop();
});

describe("actor-manifests audit", () => {
  const env = () => cliEnv(world);

  it("audits one actor by name and prints JSON for scripts", async () => {
    const { code, stdout } = await cli(["audit", "--actor", A, "--json"], env());
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ failed: 0, filesHashed: 4 });
    expect(report.actors[0]).toMatchObject({ name: A, ok: true, counts: { synced: 3, local_only: 1 } });
  });

  it("audits --all with a summary table; a second run reads nothing", async () => {
    const first = await cli(["audit", "--all"], env());
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/audited 2 of 2 actors/);
    expect(first.stdout).toMatch(/SYNCED\s+6/);
    expect(first.stdout).toMatch(/LOCAL_ONLY\s+1/);
    expect(first.stdout).toMatch(/OUT_OF_SYNC\s+1/);
    expect(first.stdout).toMatch(new RegExp(`${B}_1.jpg synced → out_of_sync`));
    const second = await cli(["audit", "--all", "--json"], env());
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ bytesHashed: 0, filesFromCache: 8, counts: { synced: 6, local_only: 1, out_of_sync: 1 } });
    // The summary says what the statuses rest on: the last listing, and actors confirmed unchanged.
    const third = await cli(["audit", "--all"], env());
    expect(third.stdout).toMatch(/S3 side as last listed for 2 actors \(oldest listing 20\d\d-/);
    expect(third.stdout).toMatch(/2 actors unchanged since their last audit/);
  });

  it("exits non-zero on an unknown actor and on a suspect listing (--list)", async () => {
    const unknown = await cli(["audit", "--actor", "nobody"], env());
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown actor/);
    for (let i = 0; i < 4; i++) await deleteImageObject(world, B, `${B}_${i}.jpg`);
    // Without --list the audit compares with the last listing, where the objects still are.
    const recorded = await cli(["audit", "--actor", B, "--json"], env());
    expect(recorded.code).toBe(0);
    expect(JSON.parse(recorded.stdout).counts).toMatchObject({ synced: 3 });
    const suspect = await cli(["audit", "--actor", B, "--list"], env());
    expect(suspect.code).toBe(1);
    expect(suspect.stdout).toMatch(/S3 listing looks suspect/);
    const forced = await cli(["audit", "--actor", B, "--list", "--allow-suspect", "--json"], env());
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).counts).toMatchObject({ local_only: 4 });
  });
});
