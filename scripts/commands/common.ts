import { type Command, Option } from "commander";
import cliProgress from "cli-progress";
import type { ConfigOverrides } from "../../src/config.ts";
import type { AppContext } from "../../src/context.ts";

/** Flags every subcommand shares (SPEC.md §9); flags win over the environment. */
export interface CommonFlags {
  dataDir?: string;
  db?: string;
  json?: boolean;
  storageMode?: string;
}

export function withCommonOptions(command: Command): Command {
  return command
    .option("--data-dir <dir>", "data directory (env DATA_DIR, default ./data)")
    .option("--db <file>", "SQLite file (env DB_PATH, default $DATA_DIR/actor-manifests.db)")
    .addOption(new Option("--storage-mode <mode>", "mirrored or s3-only (env STORAGE_MODE)").choices(["mirrored", "s3-only"]))
    .option("--json", "print the result as JSON for scripts (progress goes nowhere)");
}

/** Options that pick actors: `--actor NAME` (repeatable) or `--all`. */
export function withActorSelection(command: Command): Command {
  return command
    .option("--actor <name>", "an actor name or character id (repeatable)", collect, [] as string[])
    .option("--all", "every actor");
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Builds the context for one command run, runs it, closes the store, and turns a
 * thrown error into a message and exit code 1.
 */
export async function runWithContext(
  flags: CommonFlags & ConfigOverrides,
  run: (ctx: AppContext) => Promise<number | undefined>,
): Promise<void> {
  let ctx: AppContext | undefined;
  // Loaded here, not at the top: `--help` needs none of it (SPEC.md §9: a CLI starts at once).
  const [{ loadConfig }, { consoleLogger, makeContext, silentLogger }, { closeStore, openStore }] = await Promise.all([
    import("../../src/config.ts"),
    import("../../src/context.ts"),
    import("../../src/db/store.ts"),
  ]);
  try {
    const config = loadConfig(process.env, { dataDir: flags.dataDir, db: flags.db, storageMode: flags.storageMode });
    ctx = makeContext(config, openStore(config.dbPath), flags.json ? silentLogger : consoleLogger);
    const code = await run(ctx);
    process.exitCode = code ?? 0;
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    if (ctx) closeStore(ctx.db);
  }
}

/** A progress bar on stderr when a person is watching; nothing under --json or without a TTY. */
export function progressBar(label: string, quiet: boolean | undefined) {
  if (quiet || !process.stderr.isTTY) return { update: (_done: number, _total: number) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done: number, total: number) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Prints the result: JSON for scripts, or the human summary lines. */
export function printResult(json: boolean | undefined, result: unknown, summary: () => string[]): void {
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else for (const line of summary()) process.stdout.write(`${line}\n`);
}
