import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { images, intents, sourceFiles } from "../../src/db/schema.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";
import { importManifests } from "../../src/sync/manifests/import.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { scanActor } from "../../src/sync/checks/scan.ts";
import { auditActor } from "../../src/sync/checks/audit.ts";
import { Md5Pool } from "../../src/sync/hashing/md5-pool.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import { addImages } from "../../src/sync/operations/add-images.ts";
import { recordIntent } from "../../src/db/intents.ts";
import { applyActorPlan, recoverIntents } from "../../src/sync/operations/write-through.ts";
import { makeActor } from "../helpers/actors.ts";
import { cli, cliEnv } from "../helpers/cli.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, type World } from "../helpers/world.ts";

/**
 * SPEC.md §3: the service reads and writes only regular files inside the data directory;
 * symbolic links are reported and never followed, not even one swapped in during an
 * operation. §9: errors never quote the content of a file. Each attack below checks that
 * nothing outside the data directory changed and that the secret reached neither S3 nor
 * any report, error or log line.
 */

let server: TestS3Server;
let world: World;
/** A folder outside the data directory, holding a secret. */
let outside: string;
let secretPath: string;
let secret: string;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());
beforeEach(async () => {
  world = await createWorld({ server });
  outside = mkdtempSync(join(tmpdir(), "am-outside-"));
  secret = `root:x:0:0:TOP-SECRET-${Math.random().toString(36).slice(2)}:/root:/bin/bash\n`;
  secretPath = join(outside, "secret.txt");
  writeFileSync(secretPath, secret);
});
afterEach(async () => {
  await world.close();
  rmSync(outside, { recursive: true, force: true });
});

const name = "0042_european_30_male";
const file = (i: number) => `${name}_${i}.jpg`;
const linkReason = /symbolic link/;
/** What the secret starts with: any leak of its first characters shows. */
const secretStart = () => secret.slice(0, 12);

/** Every file under the outside folder with its content. */
function outsideFiles(): Record<string, string> {
  const entries = readdirSync(outside, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  return Object.fromEntries(
    entries.map((entry) => [join(entry.parentPath, entry.name), readFileSync(join(entry.parentPath, entry.name), "utf8")]),
  );
}

async function s3Bodies(): Promise<Map<string, string>> {
  const listed = await world.s3.client.send(new ListObjectsV2Command({ Bucket: world.config.s3.bucket }));
  const bodies = new Map<string, string>();
  for (const object of listed.Contents ?? []) {
    const got = await world.s3.client.send(new GetObjectCommand({ Bucket: world.config.s3.bucket, Key: object.Key! }));
    bodies.set(object.Key!, Buffer.from(await got.Body!.transformToByteArray()).toString("latin1"));
  }
  return bodies;
}

/** Nothing outside changed, and the secret is in no S3 object, no report and no log line. */
async function expectNothingLeaked(before: Record<string, string>, ...reports: unknown[]): Promise<void> {
  expect(outsideFiles()).toEqual(before);
  expect(readFileSync(secretPath, "utf8")).toBe(secret);
  for (const [key, body] of await s3Bodies()) expect(body.includes(secretStart()), `S3 object ${key}`).toBe(false);
  for (const text of [...reports.map((report) => JSON.stringify(report)), ...world.messages.map((m) => m.message)]) {
    expect(text).not.toContain(secretStart());
  }
  const stored = world.db.select().from(sourceFiles).all();
  expect(JSON.stringify(stored)).not.toContain(secretStart());
}

describe("symbolic links are reported and never followed", () => {
  it("a file link to a secret in training_data is neither adopted nor uploaded, tracked or not", async () => {
    // X_3 is listed by the manifest (local only), X_99 by nothing: both are links to the secret.
    const synced = { local: true, s3: true };
    const actor = await makeActor(world, { name, images: [synced, synced, synced, { local: false, status: "local_only" }] });
    symlinkSync(secretPath, world.ctx.layout.imagePath(name, file(3)));
    symlinkSync(secretPath, world.ctx.layout.imagePath(name, file(99)));
    const before = outsideFiles();

    const scan = await scanActor(world.ctx, world.s3, actor.id);
    expect(scan.outcome).toBe("scanned");
    expect(scan.skipped).toEqual(
      expect.arrayContaining([
        { name: file(3), reason: expect.stringMatching(linkReason) },
        { name: file(99), reason: expect.stringMatching(linkReason) },
      ]),
    );
    expect(scan.added).not.toContain(file(99));
    const sync = await syncActors(world.ctx, world.s3, { direction: "push" });
    expect(sync.plans[0]!.steps.map((step) => step.filename)).toEqual([]);
    expect(sync.plans[0]!.skipped).toEqual(
      expect.arrayContaining([
        { filename: file(3), reason: expect.stringMatching(linkReason) },
        { filename: file(99), reason: expect.stringMatching(linkReason) },
      ]),
    );
    for (const i of [3, 99])
      expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, name, file(i)))).toBeNull();
    expect(
      world.db
        .select()
        .from(images)
        .all()
        .map((row) => row.filename),
    ).not.toContain(file(99));
    // The links are left alone (reported, not removed).
    expect(readFileSync(world.ctx.layout.imagePath(name, file(99)), "utf8")).toBe(secret);
    await expectNothingLeaked(before, scan, sync);
  });

  it("a training_data folder that links outside receives nothing from a pull, and the link is named", async () => {
    const actor = await makeActor(world, { name, images: [{ s3: true }, { s3: true }] });
    const outsideFolder = join(outside, "elsewhere");
    mkdirSync(outsideFolder);
    mkdirSync(world.ctx.layout.actorDir(name), { recursive: true });
    symlinkSync(outsideFolder, world.ctx.layout.trainingDir(name));
    const before = outsideFiles();

    const scan = await scanActor(world.ctx, world.s3, actor.id);
    expect(scan.outcome).toBe("failed");
    expect(scan.error).toContain(`${world.ctx.layout.trainingDir(name)}: is a symbolic link`);
    const sync = await syncActors(world.ctx, world.s3, { direction: "pull" });
    expect(sync.failedActors).toEqual([
      { name, error: expect.stringContaining(`${world.ctx.layout.trainingDir(name)}: is a symbolic link`) },
    ]);
    expect(readdirSync(outsideFolder)).toEqual([]);
    await expectNothingLeaked(before, scan, sync);
  });

  it("a training_data folder moved outside and linked back after an audit is not confirmed through the link", async () => {
    const synced = { local: true, s3: true };
    const actor = await makeActor(world, { name, images: [synced, synced] });
    const pool = new Md5Pool();
    try {
      const audit = () => auditActor(world.ctx, world.s3, actor.id, { pool });
      expect(await audit()).toMatchObject({ ok: true, unchanged: false });
      // Moved whole, the files keep every stat their folder digest covers: followed, the link would confirm them.
      const moved = join(outside, "moved");
      renameSync(world.ctx.layout.trainingDir(name), moved);
      symlinkSync(moved, world.ctx.layout.trainingDir(name));
      const before = outsideFiles();
      for (const threads of ["running", "not started"]) {
        if (threads === "not started") await pool.close();
        const result = await auditActor(world.ctx, world.s3, actor.id, threads === "running" ? { pool } : {});
        expect(result, `hashing threads ${threads}`).toMatchObject({ ok: false, unchanged: false });
        expect(result.error).toContain(`${world.ctx.layout.trainingDir(name)}: is a symbolic link`);
        await expectNothingLeaked(before, result);
      }
    } finally {
      await pool.close();
    }
  });

  it("an actor folder or actor_manifests that links outside is reported by import and never written through", async () => {
    // A copy of a manifest outside, reached through actor_manifests: never read, never replaced.
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const manifests = world.ctx.layout.manifestsDir;
    const outsideManifests = join(outside, "manifests");
    renameSync(manifests, outsideManifests);
    symlinkSync(outsideManifests, manifests);
    const outsideActor = join(outside, "actor");
    mkdirSync(join(outsideActor, "training_data"), { recursive: true });
    writeFileSync(join(outsideActor, "training_data", "prompt_metadata.json"), secret);
    symlinkSync(outsideActor, world.ctx.layout.actorDir("0043_african_40_female"));
    const before = outsideFiles();

    const report = await importManifests(world.ctx, { force: true });
    expect(report.problems).toEqual(
      expect.arrayContaining([
        { file: manifests, jsonPath: "$", reason: expect.stringMatching(linkReason) },
        { file: world.ctx.layout.actorDir("0043_african_40_female"), jsonPath: "$", reason: expect.stringMatching(linkReason) },
      ]),
    );
    const exported = await exportManifests(world.ctx, { force: true });
    expect(exported.filesWritten).toEqual([]);
    expect(exported.problems).toEqual([
      expect.objectContaining({ file: join(manifests, "0042_manifest.json"), reason: expect.stringMatching(linkReason) }),
    ]);
    await expectNothingLeaked(before, report, exported);
  });

  it("a file swapped for a link after the scan is not uploaded by the sync", async () => {
    // Four files, one swapped: the suspect-listing guard (half the local side gone) stays out of it.
    const actor = await makeActor(world, { name, images: [{ local: true }, { local: true }, { local: true }, { local: true }] });
    expect((await scanActor(world.ctx, world.s3, actor.id)).outcome).toBe("scanned");
    const path = world.ctx.layout.imagePath(name, file(0));
    unlinkSync(path);
    symlinkSync(secretPath, path);
    const before = outsideFiles();

    const sync = await syncActors(world.ctx, world.s3, { direction: "push" });
    expect(sync.plans[0]!.steps.map((step) => step.filename)).toEqual([file(1), file(2), file(3)]);
    expect(sync.plans[0]!.skipped).toContainEqual({ filename: file(0), reason: expect.stringMatching(linkReason) });
    expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, name, file(0)))).toBeNull();
    await expectNothingLeaked(before, sync);
  });

  it("a link swapped in after the plan is made is not followed by the transfer itself", async () => {
    const actor = await makeActor(world, { name, images: [{ local: true }, { s3: true }] });
    const upload = {
      kind: "upload" as const,
      filename: file(0),
      bytes: 2048,
      overwrite: false,
      expectedMd5: null,
      toTrash: [],
      reason: "test",
    };
    const download = {
      kind: "download" as const,
      filename: file(1),
      bytes: 2048,
      overwrite: false,
      expectedMd5: null,
      toTrash: [],
      reason: "test",
    };
    // Swapped in between the plan and the transfer: the file for a link, then the whole folder.
    const path = world.ctx.layout.imagePath(name, file(0));
    unlinkSync(path);
    symlinkSync(secretPath, path);
    const before = outsideFiles();
    const first = await applyActorPlan(world.ctx, world.s3, { actorId: actor.id, name, steps: [upload], skipped: [] });
    expect(first.steps).toEqual([expect.objectContaining({ filename: file(0), ok: false, error: expect.stringMatching(linkReason) })]);

    const training = world.ctx.layout.trainingDir(name);
    const outsideFolder = join(outside, "elsewhere");
    rmSync(training, { recursive: true });
    mkdirSync(outsideFolder);
    symlinkSync(outsideFolder, training);
    const second = await applyActorPlan(world.ctx, world.s3, { actorId: actor.id, name, steps: [download], skipped: [] });
    expect(second.steps).toEqual([
      expect.objectContaining({ filename: file(1), ok: false, error: expect.stringContaining(`${training}: is a symbolic link`) }),
    ]);
    expect(readdirSync(outsideFolder)).toEqual([]);
    expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, name, file(0)))).toBeNull();
    await expectNothingLeaked(before, first, second);
  });

  it("add-images and crash recovery never write into or clean up a training_data folder that links outside", async () => {
    const actor = await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const training = world.ctx.layout.trainingDir(name);
    const outsideFolder = join(outside, "elsewhere");
    mkdirSync(outsideFolder);
    // Named like the service's own temporary files: recovery must not take them for its own.
    writeFileSync(join(outsideFolder, ".am-download.0123456789abcdef.tmp"), "someone else's");
    rmSync(training, { recursive: true });
    symlinkSync(outsideFolder, training);
    const before = outsideFiles();

    await expect(
      addImages(world.ctx, world.s3, { actor: name, images: [{ filename: file(5), bytes: Buffer.from("new image") }] }),
    ).rejects.toThrow(`${training}: is a symbolic link`);
    // An interrupted upload of this actor by a process that is gone (its lease no longer held):
    // the next start recovers it, and removes its temporary files.
    const intentId = recordIntent(world.db, actor.id, file(0), "upload", { kind: "upload", filename: file(0) });
    world.db.update(intents).set({ ownerId: "a process killed long ago" }).where(eq(intents.id, intentId)).run();
    const recovery = await recoverIntents(world.ctx, world.s3);
    expect(recovery.temporaryFilesRemoved).toEqual([]);
    expect(world.messages.map((m) => m.message)).toContainEqual(expect.stringContaining(`${training}: is a symbolic link`));
    expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, name, file(5)))).toBeNull();
    await expectNothingLeaked(before);
  });

  it("a manifest folder swapped for a link during an export's atomic write is not written through", async () => {
    const actor = await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const manifests = world.ctx.layout.manifestsDir;
    const outsideManifests = join(outside, "manifests");
    mkdirSync(outsideManifests);
    const before = outsideFiles();
    const exported = await exportManifests(world.ctx, {
      actorIds: [actor.id],
      force: true,
      createPromptMetadata: true,
      atomicWriteHooks: {
        // Between the fsync of the temporary file and the rename: the folder becomes a link.
        beforeRename: () => {
          if (readdirSync(outside).includes("moved")) return;
          renameSync(manifests, join(outside, "moved"));
          symlinkSync(outsideManifests, manifests);
        },
      },
    });
    expect(exported.problems).toEqual([expect.objectContaining({ reason: expect.stringMatching(linkReason) })]);
    expect(readdirSync(outsideManifests)).toEqual([]);
    rmSync(join(outside, "moved"), { recursive: true });
    await expectNothingLeaked(before, exported);
  });
});

describe("errors never quote the content of a file", () => {
  it("a prompt_metadata.json linked to a secret is reported by name, its content never read", async () => {
    await makeActor(world, { name, images: [{ local: true }], importAfter: false });
    symlinkSync(secretPath, world.ctx.layout.promptMetadataPath(name));
    const before = outsideFiles();

    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual([
      { file: world.ctx.layout.promptMetadataPath(name), jsonPath: "$", reason: expect.stringMatching(linkReason) },
    ]);
    // The same through the real CLI, errors and all as JSON.
    const run = await cli(["import", "--force", "--json"], cliEnv(world));
    expect(run.stdout).toContain(world.ctx.layout.promptMetadataPath(name));
    expect(run.stdout + run.stderr).not.toContain(secretStart());
    await expectNothingLeaked(before, report);
  });

  it("a broken JSON file's parse error names the file and where, not what it says", async () => {
    await makeActor(world, { name, images: [{ local: true }], importAfter: false });
    const path = world.ctx.layout.promptMetadataPath(name);
    writeFileSync(path, secret);
    const formatB = world.ctx.layout.formatBPath(name);
    writeFileSync(formatB, `{\n  "actor_id": "${name}",\n  "images": {"a": ${secret}}\n}\n`);
    const before = outsideFiles();

    const report = await importManifests(world.ctx);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        { file: path, jsonPath: "$", reason: "invalid JSON: unexpected character at line 1, column 1" },
        { file: formatB, jsonPath: "$", reason: "invalid JSON: unexpected character at line 3, column 19" },
      ]),
    );
    const run = await cli(["import", "--force", "--json"], cliEnv(world));
    expect(run.stdout).toContain("unexpected character at line 1, column 1");
    expect(run.stdout + run.stderr).not.toContain(secretStart());
    await expectNothingLeaked(before, report);
  });
});
