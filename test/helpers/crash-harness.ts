/**
 * The kill -9 harness (issue 10, SPEC.md §7 "a crash at any instant"): runs a command of the real
 * CLI entry point on a test world, kills it with SIGKILL at a random instant, runs it again until
 * it succeeds, and checks that nothing is lost: every image of the fixture that was not asked to
 * be deleted on at least one side with its own content, those asked gone from both, no pending
 * intent, no temporary file, every manifest parsing, listing SQLite's rows and holding what
 * SQLite recorded of it, `audit --all` agreeing, and what the command itself had to do done.
 * One loop serves every command; a scenario says what each round asks and what "done" means.
 * The suite runs a few kills on small data; scripts/crash-harness.ts runs many at full size.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { actors, images, manifestWrites, sourceFiles, type ImageRow } from "../../src/db/schema.ts";
import { recordRating } from "../../src/db/operation-writes.ts";
import { readConfigFile } from "../../src/config-file.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { contentHashOf } from "../../src/sync/manifests/source-files.ts";
import { temporaryPrefix } from "../../src/sync/s3/transfer.ts";
import { makeRandom } from "../../src/demo/image-bytes.ts";
import { bytesFor, deleteImageObject, makeActor, md5Of, type FixtureActor } from "./actors.ts";
import { cli, cliEnv } from "./cli.ts";
import type { TestS3Server } from "./s3-server.ts";
import { createWorld, pendingIntents, type World } from "./world.ts";

const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");

/** The commands the harness kills. */
export const crashCommands = ["sync", "export", "rate", "delete", "add", "prune-local"] as const;
export type CrashCommand = (typeof crashCommands)[number];

export interface HarnessOptions {
  server: TestS3Server;
  actors: number;
  imagesPerActor: number;
  imageBytes: number;
  kills: number;
  /** Kills land uniformly within the first run's time (the command's last clean run afterwards); this until one is measured. */
  killWithinMs: number;
  /** A seed, so a failing run can be repeated. */
  seed: number;
  log?: (line: string) => void;
}

export interface HarnessFigures {
  command: CrashCommand;
  kills: number;
  /** Killed before it finished (a kill after the process ended counts as a run that completed). */
  killedMidway: number;
  reruns: number;
  filesLost: number;
  problems: string[];
}

/** What the harness knows while it runs: the world, its actors, and what each image must have become. */
interface Run {
  world: World;
  made: FixtureActor[];
  random: () => number;
  /** `actor/filename` → the content that must survive (on at least one side, never another content). */
  kept: Map<string, { actor: string; filename: string; content: Buffer }>;
  /** `actor/filename` asked to be deleted: gone from both sides and from SQLite. */
  deleted: Set<string>;
  /** `actor/filename` → the rating last asked. */
  rated: Map<string, boolean | null>;
  /** Where `add` takes its files from (outside the data directory). */
  sourceDir: string;
  round: number;
}

/** One round: the command to kill, and what to run again after the kill (default the same). */
interface Round {
  args: string[];
  rerun?: () => string[];
}

interface Scenario {
  /** The fixture's sides for image `i` of an actor. */
  sides(i: number): { local?: true; s3?: true };
  /** Gives the next run work and records what it asks. */
  next(run: Run): Promise<Round>;
  /** After convergence: what the command had to do and did not (empty when done). */
  done(run: Run): Promise<string[]>;
}

const key = (actor: string, filename: string) => `${actor}/${filename}`;

/** Kills `command` at random instants and re-runs it to convergence each time. */
export async function runCrashHarness(command: CrashCommand, options: HarnessOptions): Promise<HarnessFigures> {
  const scenario = scenarios[command];
  const world = await createWorld({ server: options.server });
  const run: Run = {
    world,
    made: [],
    random: makeRandom(options.seed), // the same seed gives the same kill instants
    kept: new Map(),
    deleted: new Set(),
    rated: new Map(),
    sourceDir: mkdtempSync(join(tmpdir(), "am-harness-add-")),
    round: 0,
  };
  const figures: HarnessFigures = { command, kills: 0, killedMidway: 0, reruns: 0, filesLost: 0, problems: [] };
  try {
    for (let a = 0; a < options.actors; a++) {
      const name = `${String(3000 + a).padStart(4, "0")}_harness_${a}_male`;
      const spec = Array.from({ length: options.imagesPerActor }, (_, i) => ({
        content: bytesFor(`${name}/${i}`, options.imageBytes + i),
        ...scenario.sides(i),
      }));
      const actor = await makeActor(world, { name, images: spec });
      run.made.push(actor);
      for (const [filename, content] of actor.contents) run.kept.set(key(name, filename), { actor: name, filename, content });
    }
    let killWithinMs = options.killWithinMs;
    for (let kill = 1; kill <= options.kills; kill++) {
      run.round = kill;
      const round = await scenario.next(run);
      const delay = Math.floor(run.random() * killWithinMs);
      const killed = await runKilled(world, round.args, delay);
      figures.kills += 1;
      if (killed) figures.killedMidway += 1;
      for (let attempt = 1; ; attempt++) {
        figures.reruns += 1;
        const args = round.rerun?.() ?? round.args;
        const started = performance.now();
        const again = await cli(args, cliEnv(world));
        if (again.code === 0) {
          if (args[0] === round.args[0]) killWithinMs = Math.max(200, performance.now() - started);
          break;
        }
        if (attempt === 3) {
          figures.problems.push(
            `kill ${kill} (${delay} ms): ${args.join(" ")} still fails after ${attempt} re-runs: ${(again.stderr + again.stdout).trim().split("\n").slice(-3).join(" | ")}`,
          );
          break;
        }
      }
      const lost = await lostFiles(run);
      figures.filesLost += lost.length;
      const problems = [...lost.map((file) => `lost ${file}`), ...(await leftovers(run)), ...(await scenario.done(run))];
      figures.problems.push(...problems.map((problem) => `kill ${kill} (${delay} ms): ${problem}`));
      options.log?.(
        `${command}: kill ${kill} at ${delay} ms${killed ? "" : " (had already finished)"}, re-runs ${figures.reruns}, lost ${figures.filesLost}, problems ${figures.problems.length}`,
      );
    }
    return figures;
  } finally {
    rmSync(run.sourceDir, { recursive: true, force: true });
    await world.close();
  }
}

const scenarios: Record<CrashCommand, Scenario> = {
  /** Between kills, a third of the copies go away, so every run has work on both sides. */
  sync: {
    sides: (i) => (i % 3 === 0 ? { local: true } : i % 3 === 1 ? { s3: true } : { local: true, s3: true }),
    next: async (run) => {
      if (run.round > 1) await takeCopiesAway(run);
      return { args: ["sync", "--all", "--out-of-sync", "local"] };
    },
    done: async (run) =>
      rowsOf(run)
        .filter((row) => row.status !== "synced")
        .map((row) => `${row.filename}: ${row.status} after a converged sync`),
  },
  /** Every actor is changed in SQLite behind the manifests' back, so every export has files to write. */
  export: {
    sides: () => ({ local: true, s3: true }),
    next: async (run) => {
      for (const actor of run.made) {
        const [filename] = pick(run, [...actor.contents.keys()], 1);
        recordRating(run.world.db, actor.id, filename!, run.random() < 0.5);
      }
      return { args: ["export", "--force"] };
    },
    done: async (run) =>
      run.world.db
        .select()
        .from(actors)
        .all()
        .filter((actor) => actor.revision !== actor.exportedRevision)
        .map((actor) => `${actor.name}: revision ${actor.revision} not exported (${actor.exportedRevision})`),
  },
  /** A selection of one actor's images rated good, bad or unrated. */
  rate: {
    sides: () => ({ local: true, s3: true }),
    next: async (run) => {
      const actor = run.made[Math.floor(run.random() * run.made.length)]!;
      const chosen = pick(run, [...actor.contents.keys()], 1 + Math.floor(run.random() * 4));
      const value = [true, false, null][Math.floor(run.random() * 3)]!;
      for (const filename of chosen) run.rated.set(key(actor.name, filename), value);
      return { args: ["rate", "--actor", actor.name, value === null ? "--unrated" : value ? "--good" : "--bad", ...chosen] };
    },
    done: async (run) => {
      const problems: string[] = [];
      const rows = new Map(rowsOf(run).map((row) => [row.key, row]));
      for (const [image, value] of run.rated) {
        const [actor, filename] = image.split("/") as [string, string];
        if (rows.get(image)?.good !== value) problems.push(`${image}: SQLite rates it ${rows.get(image)?.good}, asked ${value}`);
        const promptMetadata = JSON.parse(readFileSync(run.world.ctx.layout.promptMetadataPath(actor), "utf8")) as Record<
          string,
          { good?: boolean | null }
        >;
        if ((promptMetadata[filename]?.good ?? null) !== value)
          problems.push(`${image}: prompt_metadata.json rates it ${promptMetadata[filename]?.good}, asked ${value}`);
      }
      return problems;
    },
  },
  /** One or two images of an actor deleted everywhere; what was deleted must be exactly what was asked. */
  delete: {
    sides: () => ({ local: true, s3: true }),
    next: async (run) => {
      const actor = run.made[Math.floor(run.random() * run.made.length)]!;
      const left = [...actor.contents.keys()].filter((filename) => run.kept.has(key(actor.name, filename)));
      const chosen = pick(run, left, left.length > 3 ? 1 + Math.floor(run.random() * 2) : 0);
      for (const filename of chosen) {
        run.kept.delete(key(actor.name, filename));
        run.deleted.add(key(actor.name, filename));
      }
      const args = (filenames: string[]) => ["delete", "--actor", actor.name, "--from", "everywhere", ...filenames];
      // Run again, a user deletes what SQLite still lists; once nothing is, any command with S3 settles the rest.
      return { args: args(chosen), rerun: () => withRows(run, actor.name, chosen, args, true) };
    },
    done: async (run) => {
      const problems: string[] = [];
      const rows = new Set(rowsOf(run).map((row) => row.key));
      for (const image of run.deleted) {
        const [actor, filename] = image.split("/") as [string, string];
        if (rows.has(image)) problems.push(`${image}: deleted, still in SQLite`);
        if (existsSync(run.world.ctx.layout.imagePath(actor, filename))) problems.push(`${image}: deleted, local file still there`);
        if (await headOf(run, actor, filename)) problems.push(`${image}: deleted, S3 object still there`);
      }
      return problems;
    },
  },
  /** Two new image files added to an actor from a folder outside the data directory. */
  add: {
    sides: () => ({ local: true, s3: true }),
    next: async (run) => {
      const actor = run.made[Math.floor(run.random() * run.made.length)]!;
      const filenames = [0, 1].map((j) => `${actor.name}_add${run.round}_${j}.jpg`);
      for (const filename of filenames) {
        const content = bytesFor(`added/${filename}`, 20_000 + run.round);
        writeFileSync(join(run.sourceDir, filename), content);
        run.kept.set(key(actor.name, filename), { actor: actor.name, filename, content });
      }
      const args = (names: string[]) => [
        "add",
        "--actor",
        actor.name,
        "--prompt",
        "harness",
        ...names.map((filename) => join(run.sourceDir, filename)),
      ];
      // Run again, a user adds what SQLite does not list yet; once it all is, any command with S3 settles the rest.
      return { args: args(filenames), rerun: () => withRows(run, actor.name, filenames, args, false) };
    },
    done: async (run) => {
      const rows = new Map(rowsOf(run).map((row) => [row.key, row]));
      return [...run.kept.keys()]
        .filter((image) => rows.get(image)?.status !== "synced")
        .map((image) => `${image}: ${rows.get(image)?.status ?? "no row"} after a converged add`);
    },
  },
  /** Local copies pruned (s3-only); between kills a quarter of them come back, so every run has work. */
  "prune-local": {
    sides: () => ({ local: true, s3: true }),
    next: async (run) => {
      if (run.round > 1) {
        for (const actor of run.made) {
          for (const filename of pick(run, [...actor.contents.keys()], Math.floor(actor.contents.size / 4))) {
            const path = run.world.ctx.layout.imagePath(actor.name, filename);
            mkdirSync(run.world.ctx.layout.trainingDir(actor.name), { recursive: true });
            writeFileSync(path, actor.contents.get(filename)!);
          }
        }
      }
      return { args: ["prune-local", "--all", "--switch-to-s3-only", "--max-delete", "100000"] };
    },
    done: async (run) => {
      const problems = rowsOf(run)
        .filter((row) => row.status !== "s3_only" || existsSync(run.world.ctx.layout.imagePath(row.actor, row.filename)))
        .map(
          (row) =>
            `${row.key}: ${row.status}, local copy ${existsSync(run.world.ctx.layout.imagePath(row.actor, row.filename)) ? "kept" : "gone"} after a converged prune`,
        );
      if (readConfigFile(run.world.dataDir).storageMode !== "s3-only") problems.push("storage mode not recorded as s3-only");
      return problems;
    },
  },
};

/** The arguments for `names` that SQLite lists (`listed`) or does not; `scan` of the actor (a command with S3, which recovers) when there are none. */
function withRows(run: Run, actor: string, names: string[], args: (names: string[]) => string[], listed: boolean): string[] {
  const rows = new Set(rowsOf(run).map((row) => row.key));
  const left = names.filter((filename) => rows.has(key(actor, filename)) === listed);
  return left.length > 0 ? args(left) : ["scan", "--actor", actor];
}

/** Starts the CLI and sends SIGKILL after `delayMs`; true when it was still running then. */
async function runKilled(world: World, args: string[], delayMs: number): Promise<boolean> {
  const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...cliEnv(world) }, stdio: "ignore" });
  const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
  const signal = await new Promise<NodeJS.Signals | null>((done) => child.once("exit", (_code, killedBy) => done(killedBy)));
  clearTimeout(timer);
  return signal === "SIGKILL";
}

function rowsOf(run: Run): (ImageRow & { actor: string; key: string })[] {
  const names = new Map(
    run.world.db
      .select()
      .from(actors)
      .all()
      .map((actor) => [actor.id, actor.name]),
  );
  return run.world.db
    .select()
    .from(images)
    .all()
    .map((row) => ({ ...row, actor: names.get(row.actorId)!, key: key(names.get(row.actorId)!, row.filename) }));
}

async function headOf(run: Run, actor: string, filename: string) {
  return headObject(run.world.s3.client, run.world.config.s3.bucket, s3KeyOf(run.world.config.s3, actor, filename));
}

/** Images that must survive whose content is on neither side (or wrong on one). */
async function lostFiles(run: Run): Promise<string[]> {
  const lost: string[] = [];
  for (const [image, { actor, filename, content }] of run.kept) {
    const path = run.world.ctx.layout.imagePath(actor, filename);
    const local = existsSync(path) ? md5Of(readFileSync(path)) : null;
    const head = await headOf(run, actor, filename);
    const remote = head ? (head.metadataMd5 ?? head.etag) : null;
    const want = md5Of(content);
    if ((local === null && remote === null) || (local !== null && local !== want) || (remote !== null && remote !== want)) lost.push(image);
  }
  return lost;
}

/**
 * After convergence: no pending intent, no temporary file, no manifest write left unrecorded,
 * every manifest file holding what SQLite recorded of it, format A listing SQLite's rows, audit agreeing.
 */
async function leftovers(run: Run): Promise<string[]> {
  const { world } = run;
  const problems: string[] = [];
  const pending = pendingIntents(world);
  if (pending.length > 0)
    problems.push(`${pending.length} pending intents (${[...new Set(pending.map((intent) => intent.operation))].join(", ")})`);
  const unrecorded = world.db.select().from(manifestWrites).all();
  if (unrecorded.length > 0) problems.push(`manifest writes not recorded: ${unrecorded.map((row) => row.path).join(", ")}`);
  for (const folder of [world.ctx.layout.manifestsDir, ...run.made.map((actor) => world.ctx.layout.trainingDir(actor.name))]) {
    const temporary = existsSync(folder)
      ? readdirSync(folder).filter((entry) => entry.startsWith(temporaryPrefix) || entry.endsWith(".tmp"))
      : [];
    if (temporary.length > 0) problems.push(`temporary files left in ${folder}: ${temporary.join(", ")}`);
  }
  for (const source of world.db.select().from(sourceFiles).all()) {
    const bytes = existsSync(source.path) ? readFileSync(source.path) : null;
    if (!bytes || contentHashOf(bytes) !== source.contentHash) problems.push(`${source.path}: not what SQLite recorded of it`);
  }
  const rows = rowsOf(run);
  for (const actor of world.db.select().from(actors).all()) {
    try {
      const manifest = JSON.parse(readFileSync(world.ctx.layout.formatAPath(actor.characterId!), "utf8")) as {
        training_data: { filename: string; status?: string }[];
      };
      const listed = manifest.training_data
        .map((entry) => `${entry.filename}:${entry.status}`)
        .sort()
        .join(",");
      const own = rows
        .filter((row) => row.actorId === actor.id)
        .map((row) => `${row.filename}:${row.status}`)
        .sort()
        .join(",");
      if (listed !== own) problems.push(`${actor.name}: manifest does not list SQLite's rows`);
    } catch (error) {
      problems.push(`${actor.name}: manifest unreadable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const audit = await cli(["audit", "--all"], cliEnv(world));
  // 3 only says that images are not synced (s3-only after a prune): each scenario checks the statuses it expects.
  if (audit.code !== 0 && audit.code !== 3)
    problems.push(`audit --all exits ${audit.code}: ${audit.stdout.trim().split("\n").slice(-2).join(" | ")}`);
  return problems;
}

/**
 * Of the images held on both sides, some lose their local copy, others their S3 object (a
 * quarter of the actor's images each at most, below the suspect-listing share): the next sync
 * has work on both sides, and the harness itself never removes a last copy.
 */
async function takeCopiesAway(run: Run): Promise<void> {
  for (const actor of run.made) {
    const limit = Math.floor(actor.contents.size / 4);
    let local = 0;
    let remote = 0;
    for (const filename of actor.contents.keys()) {
      const path = join(run.world.ctx.layout.trainingDir(actor.name), filename);
      const both = existsSync(path) && (await headOf(run, actor.name, filename)) !== null;
      if (!both) continue;
      const choice = run.random();
      if (choice < 1 / 3 && local < limit) {
        rmSync(path);
        local += 1;
      } else if (choice >= 2 / 3 && remote < limit) {
        await deleteImageObject(run.world, actor.name, filename);
        remote += 1;
      }
    }
  }
}

/** `count` of `items`, chosen at random. */
function pick<T>(run: Run, items: T[], count: number): T[] {
  const pool = [...items];
  const chosen: T[] = [];
  while (chosen.length < count && pool.length > 0) chosen.push(pool.splice(Math.floor(run.random() * pool.length), 1)[0]!);
  return chosen;
}
