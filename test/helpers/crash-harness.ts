/**
 * The kill -9 harness (issue 10, SPEC.md §7 "a crash at any instant"): runs the real CLI entry
 * point on a test world, kills it with SIGKILL at a random instant, runs the same command again
 * until it succeeds, and checks that nothing is lost: every image of the fixture on at least one
 * side with its own content, no pending intent, no temporary file, every manifest parsing and
 * listing SQLite's rows, and `audit --all` agreeing. The suite runs a few kills on small data;
 * scripts/crash-harness.ts runs many at full size.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { actors, images, intents } from "../../src/db/schema.ts";
import { s3KeyOf } from "../../src/sync/layout.ts";
import { headObject } from "../../src/sync/s3-client.ts";
import { temporaryPrefix } from "../../src/sync/transfer.ts";
import { bytesFor, deleteImageObject, makeActor, md5Of, type FixtureActor } from "./actors.ts";
import { cli, cliEnv } from "./cli.ts";
import type { TestS3Server } from "./s3-server.ts";
import { createWorld, type World } from "./world.ts";

const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");

export interface HarnessOptions {
  server: TestS3Server;
  actors: number;
  imagesPerActor: number;
  imageBytes: number;
  kills: number;
  /** Kills land uniformly in [0, killWithinMs) after the start. */
  killWithinMs: number;
  /** A seed, so a failing run can be repeated. */
  seed: number;
  log?: (line: string) => void;
}

export interface HarnessFigures {
  kills: number;
  /** Killed before it finished (a kill after the process ended counts as a run that completed). */
  killedMidway: number;
  reruns: number;
  filesLost: number;
  problems: string[];
}

/** Kills `sync --all` at random instants; between kills, takes a third of the copies away so every run has work. */
export async function runSyncCrashHarness(options: HarnessOptions): Promise<HarnessFigures> {
  const random = mulberry32(options.seed);
  const world = await createWorld({ server: options.server });
  const figures: HarnessFigures = { kills: 0, killedMidway: 0, reruns: 0, filesLost: 0, problems: [] };
  try {
    const made: FixtureActor[] = [];
    for (let a = 0; a < options.actors; a++) {
      const name = `${String(3000 + a).padStart(4, "0")}_harness_${a}_male`;
      const spec = Array.from({ length: options.imagesPerActor }, (_, i) => {
        const content = bytesFor(`${name}/${i}`, options.imageBytes + i);
        return i % 3 === 0 ? { content, local: true } : i % 3 === 1 ? { content, s3: true } : { content, local: true, s3: true };
      });
      made.push(await makeActor(world, { name, images: spec }));
    }
    for (let kill = 1; kill <= options.kills; kill++) {
      const delay = Math.floor(random() * options.killWithinMs);
      const killed = await runKilled(world, ["sync", "--all"], delay);
      figures.kills += 1;
      if (killed) figures.killedMidway += 1;
      for (let attempt = 1; ; attempt++) {
        figures.reruns += 1;
        const run = await cli(["sync", "--all", "--out-of-sync", "local"], cliEnv(world));
        if (run.code === 0) break;
        if (attempt === 3) {
          figures.problems.push(`kill ${kill} (${delay} ms): sync --all still fails after ${attempt} re-runs: ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
          break;
        }
      }
      const lost = await lostFiles(world, made);
      figures.filesLost += lost.length;
      figures.problems.push(...lost.map((file) => `kill ${kill} (${delay} ms): lost ${file}`), ...(await leftovers(world, made)).map((problem) => `kill ${kill} (${delay} ms): ${problem}`));
      options.log?.(`kill ${kill}: at ${delay} ms${killed ? "" : " (had already finished)"}, re-runs ${figures.reruns}, lost ${figures.filesLost}, problems ${figures.problems.length}`);
      await takeCopiesAway(world, made, random);
    }
    return figures;
  } finally {
    await world.close();
  }
}

/** Starts the CLI and sends SIGKILL after `delayMs`; true when it was still running then. */
async function runKilled(world: World, args: string[], delayMs: number): Promise<boolean> {
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...cliEnv(world) }, stdio: "ignore" });
  const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
  const signal = await new Promise<NodeJS.Signals | null>((done) => child.once("exit", (_code, killedBy) => done(killedBy)));
  clearTimeout(timer);
  return signal === "SIGKILL";
}

/** Fixture images whose content is on neither side (or wrong on one). */
async function lostFiles(world: World, made: FixtureActor[]): Promise<string[]> {
  const lost: string[] = [];
  for (const actor of made) {
    for (const [filename, content] of actor.contents) {
      const path = world.ctx.layout.imagePath(actor.name, filename);
      const local = existsSync(path) ? md5Of(readFileSync(path)) : null;
      const head = await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, actor.name, filename));
      const remote = head ? (head.metadataMd5 ?? head.etag) : null;
      const want = md5Of(content);
      if ((local === null && remote === null) || (local !== null && local !== want) || (remote !== null && remote !== want)) lost.push(`${actor.name}/${filename}`);
    }
  }
  return lost;
}

/** After convergence: no pending intent, no temporary file, manifests parse and list SQLite's rows, all synced, audit agrees. */
async function leftovers(world: World, made: FixtureActor[]): Promise<string[]> {
  const problems: string[] = [];
  const pending = world.db.select().from(intents).all().filter((intent) => intent.state === "pending");
  if (pending.length > 0) problems.push(`${pending.length} pending intents`);
  for (const actor of made) {
    const folder = world.ctx.layout.trainingDir(actor.name);
    const temporary = existsSync(folder) ? readdirSync(folder).filter((entry) => entry.startsWith(temporaryPrefix) || entry.endsWith(".tmp")) : [];
    if (temporary.length > 0) problems.push(`${actor.name}: temporary files left: ${temporary.join(", ")}`);
  }
  for (const actor of world.db.select().from(actors).all()) {
    try {
      const manifest = JSON.parse(readFileSync(world.ctx.layout.formatAPath(actor.characterId!), "utf8")) as { training_data: { filename: string; status: string }[] };
      const rows = world.db.select().from(images).all().filter((row) => row.actorId === actor.id);
      const listed = manifest.training_data.map((entry) => `${entry.filename}:${entry.status}`).sort().join(",");
      if (listed !== rows.map((row) => `${row.filename}:${row.status}`).sort().join(",")) problems.push(`${actor.name}: manifest does not list SQLite's rows`);
      if (rows.some((row) => row.status !== "synced")) problems.push(`${actor.name}: not all synced after a converged sync`);
    } catch (error) {
      problems.push(`${actor.name}: manifest unreadable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const audit = await cli(["audit", "--all"], cliEnv(world));
  if (audit.code !== 0) problems.push(`audit --all exits ${audit.code}: ${audit.stdout.trim().split("\n").slice(-2).join(" | ")}`);
  return problems;
}

/**
 * Of the images held on both sides, some lose their local copy, others their S3 object (a
 * quarter of the actor's images each at most, below the suspect-listing share): the next sync
 * has work on both sides, and the harness itself never removes a last copy.
 */
async function takeCopiesAway(world: World, made: FixtureActor[], random: () => number): Promise<void> {
  for (const actor of made) {
    const limit = Math.floor(actor.contents.size / 4);
    let local = 0;
    let remote = 0;
    for (const filename of actor.contents.keys()) {
      const path = join(world.ctx.layout.trainingDir(actor.name), filename);
      const both = existsSync(path) && (await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, actor.name, filename))) !== null;
      if (!both) continue;
      const pick = random();
      if (pick < 1 / 3 && local < limit) {
        rmSync(path);
        local += 1;
      } else if (pick >= 2 / 3 && remote < limit) {
        await deleteImageObject(world, actor.name, filename);
        remote += 1;
      }
    }
  }
}

/** A small seeded generator: the same seed gives the same kill instants. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
