import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore } from "../../src/db/store.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { deleteImageObject, makeActor } from "../helpers/actors.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { cli, cliEnv, cliJson } from "../helpers/cli.ts";
import { createWorld, type World } from "../helpers/world.ts";

let server: TestS3Server;
let world: World;
const A = "0001_european_30_male";

beforeAll(async () => {
  server = await startTestS3Server();
  world = await createWorld({ server });
  await makeActor(world, { name: A, images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
  await makeActor(world, { name: "0002_african_40_female", images: Array.from({ length: 4 }, () => ({ local: true, s3: true })) });
  await deleteImageObject(world, A, `${A}_0.jpg`);
  // The CLI opens the SQLite file itself.
  closeStore(world.db);
});
afterAll(async () => {
  await world?.close();
  await server?.stop();
});

describe("actor-manifests scan", () => {
  const env = () => cliEnv(world);

  it("scans one actor by name and prints JSON for scripts", async () => {
    const { code, envelope } = await cliJson<{ actors: unknown[]; counts: unknown }>(["scan", "--actor", A], env());
    expect(code).toBe(0);
    const report = envelope.result;
    expect(report).toMatchObject({ scanned: 1, failed: 0, suspect: 0 });
    expect(report.actors[0]).toMatchObject({ name: A, removedFromS3: [`${A}_0.jpg`] });
    expect(report.counts).toMatchObject({ synced: 3, localOnly: 1 });
  });

  it("scans --all with a summary table, and fails on an unknown actor", async () => {
    const { code, stdout } = await cli(["scan", "--all"], env());
    expect(code).toBe(0);
    expect(stdout).toMatch(/scanned 2 of 2 actors/);
    expect(stdout).toMatch(/SYNCED\s+7/);
    expect(stdout).toMatch(/LOCAL_ONLY\s+1/);
    const unknown = await cli(["scan", "--actor", "nobody"], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown actor "nobody"/);
  });

  it("exits non-zero when an actor's listing is suspect", async () => {
    const { code, stdout } = await cli(["scan", "--all"], { ...env(), S3_BUCKET: (await server.newBucket()).bucket });
    expect(code).toBe(1);
    expect(stdout).toMatch(/suspect: 0001_european_30_male: .*empty/);
  });

  it("starts the embedded s3rver when nothing points at S3", async () => {
    const home = mkdtempSync(join(tmpdir(), "am-cli-home-"));
    const fresh = await createWorld({ server });
    try {
      await makeActor(fresh, { name: A, images: [{ local: true }, { local: true }] });
      closeStore(fresh.db);
      const { code, stderr, envelope } = await cliJson(["scan", "--all"], { DATA_DIR: fresh.dataDir, HOME: home });
      expect(code, stderr).toBe(0);
      expect(envelope.result).toMatchObject({ scanned: 1, failed: 0, counts: { localOnly: 2 } });
      expect(existsSync(join(fresh.dataDir, ".s3rver", "story-boards-assets"))).toBe(true);
    } finally {
      await fresh.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("scans --all adding the actors only an S3 prefix or a folder tells of, with their images", async () => {
    const ghost = "0099_nordic_40_male";
    const folderOnly = "0098_nordic_30_female";
    await world.s3.client.send(
      new PutObjectCommand({ Bucket: world.config.s3.bucket, Key: s3KeyOf(world.config.s3, ghost, `${ghost}_0.jpg`), Body: "x" }),
    );
    mkdirSync(join(world.dataDir, "actors", folderOnly, "training_data"), { recursive: true });
    writeFileSync(join(world.dataDir, "actors", folderOnly, "training_data", `${folderOnly}_0.jpg`), "y");
    const { code, stderr, envelope } = await cliJson<{ discovered: string[]; actors: { name: string; added: string[] }[] }>(
      ["scan", "--all"],
      env(),
    );
    expect(code, stderr).toBe(0);
    const report = envelope.result;
    expect(report.discovered).toEqual([folderOnly, ghost]);
    const added = Object.fromEntries(report.actors.map((actor: { name: string; added: string[] }) => [actor.name, actor.added]));
    expect(added).toMatchObject({ [ghost]: [`${ghost}_0.jpg`], [folderOnly]: [`${folderOnly}_0.jpg`] });
  });
});
