/**
 * Crash safety of the write-through path (SPEC.md §7): a bulk sync in a child process is
 * killed with SIGKILL at several points; the next start (`recoverIntents`) settles what it
 * left, every image is still on at least one side, every manifest is valid JSON matching
 * SQLite, and a re-run converges.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeContext, silentLogger } from "../../src/context.ts";
import { actors, images } from "../../src/db/schema.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import { temporaryPrefix } from "../../src/sync/s3/transfer.ts";
import { recoverIntents, type RecoveryReport } from "../../src/sync/operations/write-through.ts";
import { bytesFor, makeActor, md5Of, type FixtureActor, type FixtureImage } from "../helpers/actors.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, pendingIntents, type World } from "../helpers/world.ts";

const childScript = fileURLToPath(new URL("../helpers/sync-child.ts", import.meta.url));
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());

const actorNames = [
  "0101_european_30_male",
  "0102_east_asian_25_female",
  "0103_african_40_male",
  "0104_latin_american_35_female",
  "0105_south_asian_22_male",
  "0106_middle_eastern_50_female",
];
const perActor = 24;

/** A third local-only, a third S3-only, a third on both sides: a sync both uploads and downloads. */
function mixed(name: string): FixtureImage[] {
  return Array.from({ length: perActor }, (_, i) => {
    const content = bytesFor(`${name}/${i}`, 6000 + i * 37);
    return i % 3 === 0 ? { content, local: true } : i % 3 === 1 ? { content, s3: true } : { content, local: true, s3: true };
  });
}

async function setUp(images: (name: string) => FixtureImage[]): Promise<{ world: World; made: FixtureActor[] }> {
  const world = await createWorld({ server });
  const made: FixtureActor[] = [];
  for (const name of actorNames) made.push(await makeActor(world, { name, images: images(name) }));
  return { world, made };
}

interface ChildEvent {
  phase: "audit" | "transfer" | "done";
  kind?: string;
  ok?: boolean;
  /** Actors whose plan was applied in full (steps, manifests, intents settled). */
  actorsDone?: number;
}

/**
 * Runs the bulk sync in a child process and kills it with SIGKILL as soon as `killWhen`
 * holds, checked after every event the child prints and, for conditions on the outside
 * world (a stalled download), every few milliseconds.
 */
async function runChild(world: World, killWhen: (events: ChildEvent[]) => boolean, endpoint = server.endpoint) {
  // Two actors at a time, so that at a late kill point some actors are finished and settled, others not.
  const options = { dataDir: world.dataDir, endpoint, bucket: world.config.s3.bucket, prefix: world.config.s3.prefix, actorConcurrency: 2 };
  const child = spawn(process.execPath, ["--import", "tsx", childScript, JSON.stringify(options)], {
    cwd: projectRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: ChildEvent[] = [];
  let stderr = "";
  let buffered = "";
  const check = () => {
    if (child.exitCode === null && child.signalCode === null && killWhen(events)) child.kill("SIGKILL");
  };
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      events.push(JSON.parse(line) as ChildEvent);
      check();
    }
  });
  const poll = setInterval(check, 10);
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
  clearInterval(poll);
  return { events, signal, stderr };
}

const transfers = (events: ChildEvent[]) => events.filter((event) => event.phase === "transfer").length;

/** Temporary files of downloads and of atomic manifest writes (`.{name}.{pid}.{hex}.tmp`). */
function temporaryFiles(world: World): string[] {
  const folders = [world.ctx.layout.manifestsDir, ...actorNames.map((name) => world.ctx.layout.trainingDir(name))];
  return folders.flatMap((folder) =>
    existsSync(folder)
      ? readdirSync(folder)
          .filter((entry) => entry.startsWith(temporaryPrefix) || (entry.startsWith(".") && entry.endsWith(".tmp")))
          .map((entry) => join(folder, entry))
      : [],
  );
}

/** The next start: a new connection to the SQLite file, then recovery of pending intents. */
async function restart(world: World): Promise<RecoveryReport> {
  const db = openStore(world.config.dbPath);
  try {
    return await recoverIntents(makeContext(world.config, db, silentLogger), world.s3);
  } finally {
    closeStore(db);
  }
}

/** Every image on at least one side with its own content; no half-written file under a real name. */
async function expectNothingLost(world: World, made: FixtureActor[]): Promise<void> {
  for (const actor of made) {
    for (const [filename, content] of actor.contents) {
      const path = world.ctx.layout.imagePath(actor.name, filename);
      const local = existsSync(path) ? md5Of(readFileSync(path)) : null;
      const head = await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, actor.name, filename));
      const remote = head ? (head.metadataMd5 ?? head.etag) : null;
      const where = `${actor.name}/${filename}`;
      if (local !== null) expect(local, `${where} local content`).toBe(md5Of(content));
      if (remote !== null) expect(remote, `${where} S3 content`).toBe(md5Of(content));
      expect(local !== null || remote !== null, `${where} exists on one side`).toBe(true);
    }
  }
}

/** Every manifest parses, lists exactly the rows of SQLite with their statuses, and its counts are the actor's. */
function expectManifestsMatchSqlite(world: World): void {
  for (const actor of world.db.select().from(actors).all()) {
    const text = readFileSync(world.ctx.layout.formatAPath(actor.characterId!), "utf8");
    const manifest = JSON.parse(text) as { training_data: { filename: string; status: string }[]; statistics: Record<string, number> };
    const rows = world.db
      .select()
      .from(images)
      .all()
      .filter((row) => row.actorId === actor.id);
    const fromManifest = manifest.training_data.map((entry) => [entry.filename, entry.status]).sort();
    const fromSqlite = rows.map((row) => [row.filename, row.status]).sort();
    expect(fromManifest, `${actor.name} manifest entries`).toEqual(fromSqlite);
    // The fixture's own manifest carries no counts; once exported, they are SQLite's.
    if ("training_synced_count" in manifest.statistics) {
      expect(manifest.statistics.training_synced_count, `${actor.name} synced count`).toBe(
        rows.filter((row) => row.status === "synced").length,
      );
    }
  }
}

async function expectRecoveredAndConverges(world: World, made: FixtureActor[]): Promise<RecoveryReport> {
  const recovery = await restart(world);
  expect(pendingIntents(world)).toEqual([]);
  expect(temporaryFiles(world)).toEqual([]);
  await expectNothingLost(world, made);
  expectManifestsMatchSqlite(world);

  const rerun = await syncActors(world.ctx, world.s3);
  expect(rerun.failedActors).toEqual([]);
  expect(rerun.failedSteps).toBe(0);
  const statuses = world.db
    .select()
    .from(images)
    .all()
    .map((row) => row.status);
  expect(statuses.length).toBe(actorNames.length * perActor);
  expect(new Set(statuses)).toEqual(new Set(["synced"]));
  for (const actor of made) {
    for (const [filename, content] of actor.contents) {
      expect(md5Of(readFileSync(world.ctx.layout.imagePath(actor.name, filename)))).toBe(md5Of(content));
    }
  }
  await expectNothingLost(world, made);
  expectManifestsMatchSqlite(world);
  expect((await syncActors(world.ctx, world.s3, { dryRun: true })).totals).toMatchObject({ uploads: 0, downloads: 0 });
  return recovery;
}

describe("a bulk sync killed with SIGKILL", () => {
  const total = actorNames.length * (perActor - perActor / 3); // uploads + downloads

  it.each([
    ["during the audit, before any transfer", (events: ChildEvent[]) => events.some((event) => event.phase === "audit")],
    ["after the first transfer", (events: ChildEvent[]) => transfers(events) >= 1],
    ["halfway through the transfers", (events: ChildEvent[]) => transfers(events) >= total / 2],
    [
      "once the first actor is finished and the next ones are under way",
      (events: ChildEvent[]) => events.some((event) => (event.actorsDone ?? 0) >= 1),
    ],
    ["near the end, most actors finished", (events: ChildEvent[]) => transfers(events) >= total - 6],
  ])("%s: recovers at the next start, loses nothing, and a re-run converges", async (_point, killWhen) => {
    const { world, made } = await setUp(mixed);
    try {
      const run = await runChild(world, killWhen);
      expect(run.signal, `the child was killed (stderr: ${run.stderr})`).toBe("SIGKILL");
      expect(run.events.some((event) => event.phase === "done")).toBe(false);
      await expectRecoveredAndConverges(world, made);
    } finally {
      await world.close();
    }
  });

  it("during downloads: half-written files never become images, and recovery removes them", async () => {
    // Mostly S3-only images; the proxy lets a few downloads through, then holds every other
    // one halfway through its body, so the child is killed with partial files on disk.
    const { world, made } = await setUp((name) =>
      Array.from({ length: perActor }, (_, i) => ({
        content: bytesFor(`${name}/${i}`, 64_000),
        ...(i % 6 === 0 ? { local: true } : { s3: true }),
      })),
    );
    let objectGets = 0;
    const proxy = await startFaultProxy(server.endpoint, (request) =>
      request.method === "GET" && !request.url.includes("list-type") && ++objectGets > 5 ? { stall: true } : null,
    );
    try {
      const partialFiles = () => temporaryFiles(world).filter((path) => (statSync(path, { throwIfNoEntry: false })?.size ?? 0) > 0);
      const run = await runChild(world, () => proxy.stalled >= 4 && partialFiles().length >= 2, proxy.endpoint);
      expect(run.signal, `the child was killed (stderr: ${run.stderr})`).toBe("SIGKILL");
      const left = temporaryFiles(world);
      expect(left.length).toBeGreaterThanOrEqual(2);
      await proxy.stop();

      const recovery = await expectRecoveredAndConverges(world, made);
      expect(recovery.temporaryFilesRemoved.sort()).toEqual(expect.arrayContaining(left.sort()));
      expect(recovery.intents).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
      await world.close();
    }
  });
});
