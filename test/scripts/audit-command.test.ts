import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore } from "../../src/db/store.ts";
import { bytesFor, deleteImageObject, makeActor } from "../helpers/actors.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { cli, cliEnv, cliJson } from "../helpers/cli.ts";
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

  it("audits one actor by name and prints JSON for scripts; differences found exit 3", async () => {
    const { code, envelope } = await cliJson<{ actors: unknown[] }>(["audit", "--actor", A], env());
    expect(code).toBe(3);
    expect(envelope).toMatchObject({ ok: false, command: "audit", exitCode: 3, outcome: "differencesFound", problems: [], errors: [] });
    expect(envelope.result).toMatchObject({ failed: 0, filesHashed: 4 });
    expect(envelope.result.actors[0]).toMatchObject({ name: A, ok: true, counts: { synced: 3, localOnly: 1 } });
  });

  it("audits --all with a summary table; a second run reads nothing", async () => {
    const first = await cli(["audit", "--all"], env());
    expect(first.code).toBe(3);
    expect(first.stdout).toMatch(/audited 2 of 2 actors/);
    expect(first.stdout).toMatch(/SYNCED\s+6/);
    expect(first.stdout).toMatch(/LOCAL_ONLY\s+1/);
    expect(first.stdout).toMatch(/OUT_OF_SYNC\s+1/);
    expect(first.stdout).toMatch(new RegExp(`${B}_1.jpg synced → out_of_sync`));
    const second = await cliJson(["audit", "--all"], env());
    expect(second.code).toBe(3);
    expect(second.envelope.result).toMatchObject({ bytesHashed: 0, filesFromCache: 8, counts: { synced: 6, localOnly: 1, outOfSync: 1 } });
    // The summary says what the statuses rest on: the last listing, and actors confirmed unchanged.
    const third = await cli(["audit", "--all"], env());
    expect(third.stdout).toMatch(/S3 side as last listed for 2 actors \(oldest listing 20\d\d-/);
    expect(third.stdout).toMatch(/2 actors unchanged since their last audit/);
  });

  it("exits 1 on an unknown actor and on a suspect listing (--list)", async () => {
    const unknown = await cli(["audit", "--actor", "nobody"], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown actor "nobody"/);
    for (let i = 0; i < 4; i++) await deleteImageObject(world, B, `${B}_${i}.jpg`);
    // Without --list the audit compares with the last listing, where the objects still are.
    const recorded = await cliJson(["audit", "--actor", B], env());
    expect(recorded.code).toBe(3);
    expect(recorded.envelope.result.counts).toMatchObject({ synced: 3 });
    const suspect = await cli(["audit", "--actor", B, "--list"], env());
    expect(suspect.code).toBe(1);
    expect(suspect.stdout).toMatch(/S3 listing looks suspect/);
    const forced = await cliJson(["audit", "--actor", B, "--list", "--allow-suspect"], env());
    expect(forced.code).toBe(3);
    expect(forced.envelope.result.counts).toMatchObject({ localOnly: 4 });
  });
});
