import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore } from "../../src/db/store.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { makeActor } from "../helpers/actors.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { cli, cliEnv, cliJson } from "../helpers/cli.ts";
import { createWorld, type World } from "../helpers/world.ts";

let server: TestS3Server;
let world: World;
const A = "0001_european_30_male";
const file = (i: number) => `${A}_${i}.jpg`;

beforeAll(async () => {
  server = await startTestS3Server();
  world = await createWorld({ server });
  await makeActor(world, { name: A, images: [{ local: true, s3: true }, { local: true }, { s3: true }, { local: true }] });
  // The CLI opens the SQLite file itself.
  closeStore(world.db);
});
afterAll(async () => {
  await world?.close();
  await server?.stop();
});

const env = () => cliEnv(world);
const head = (filename: string) => headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, A, filename));

describe("actor-manifests sync, delete, rate", () => {
  it("plans on --dry-run, then syncs with a summary; --json for scripts", async () => {
    const dry = await cli(["sync", "--all", "--dry-run"], env());
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /dry run, nothing changed: 1 actor in .* would upload 2 images \(4\.1 kB\), would download 1 image \(2\.0 kB\), would overwrite 0 images\n$/,
    );
    expect(dry.stdout).toContain(`upload ${file(1)} (2.0 kB): only on local disk`);
    expect(await head(file(1))).toBeNull();

    const synced = await cliJson(["sync", "--actor", A], env());
    expect(synced.code).toBe(0);
    expect(synced.envelope).toMatchObject({ ok: true, command: "sync", exitCode: 0, outcome: "done", problems: [], errors: [] });
    expect(synced.envelope.result).toMatchObject({ dryRun: false, failedSteps: 0, totals: { uploads: 2, downloads: 1 } });
    expect(await head(file(1))).not.toBeNull();
    expect(existsSync(world.ctx.layout.imagePath(A, file(2)))).toBe(true);
  });

  it("refuses a delete over --max-delete with exit 1, then deletes and rates", async () => {
    const refused = await cli(["delete", "--actor", A, "--all-images", "--from", "everywhere", "--max-delete", "2"], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/would delete 4 images, over the max-delete limit of 2/);
    expect(await head(file(0))).not.toBeNull();

    const hostile = await cli(["delete", "--actor", A, "--from", "disk", "../../etc/passwd"], env());
    expect(hostile.code).toBe(1);
    expect(hostile.stderr).toMatch(/unsafe name/);

    const deleted = await cli(["delete", "--actor", A, "--from", "everywhere", file(3)], env());
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toMatch(/deleted 1 of 1 image \(2\.0 kB\)\n$/);
    expect(await head(file(3))).toBeNull();
    expect(existsSync(world.ctx.layout.imagePath(A, file(3)))).toBe(false);

    const rated = await cli(["rate", "--actor", A, "--good", file(0)], env());
    expect(rated.code).toBe(0);
    expect(JSON.parse(readFileSync(world.ctx.layout.promptMetadataPath(A), "utf8"))).toEqual({ [file(0)]: { good: true } });
    const manifest = JSON.parse(readFileSync(join(world.dataDir, "actor_manifests", "0001_manifest.json"), "utf8"));
    expect(manifest.training_data.map((entry: { filename: string }) => entry.filename)).toEqual([file(0), file(1), file(2)]);
  });

  it("a rating whose prompt_metadata.json cannot be written says it is done and names the pending file, exits 1; the next run finishes it", async () => {
    const promptMetadata = world.ctx.layout.promptMetadataPath(A);
    const bytes = readFileSync(promptMetadata);
    // A folder in the file's place stops the write even for root (chmod does not).
    rmSync(promptMetadata);
    mkdirSync(promptMetadata);
    const half = await cli(["rate", "--actor", A, "--bad", file(1)], env());
    expect(half.code, half.stderr).toBe(4); // partly done
    expect(half.stdout).toMatch(/rated 1 of 1 image/);
    expect(half.stdout).toContain(`pending: ${A}: ${promptMetadata}: not written`);
    expect(half.stderr).not.toMatch(/Unexpected|TypeError/);

    rmSync(promptMetadata, { recursive: true });
    writeFileSync(promptMetadata, bytes);
    const next = await cli(["rate", "--actor", A, "--good", file(2)], env());
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(readFileSync(promptMetadata, "utf8"))).toEqual({
      [file(0)]: { good: true },
      [file(1)]: { good: false },
      [file(2)]: { good: true },
    });
    const db = new Database(world.config.dbPath, { readonly: true });
    expect(db.prepare("select count(*) as n from intents where state = 'pending'").get()).toEqual({ n: 0 });
    db.close();
  });
});
