import { type Command, CommanderError, Option } from "commander";
import cliProgress from "cli-progress";
import type { ConfigOverrides } from "../../src/config.ts";
import type { AppContext } from "../../src/context.ts";
import type { Logger } from "../../src/logger.ts";
import { exitCodes, outcomeOf, UsageError, type Outcome } from "./exit-codes.ts";

/** Flags every subcommand shares (SPEC.md §9); flags win over the environment. */
export interface CommonFlags {
  dataDir?: string;
  db?: string;
  storageMode?: string;
  s3Endpoint?: string;
  s3Bucket?: string;
  s3Prefix?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/** How a command's output is shaped: JSON, quiet or verbose. */
type OutputFlags = Pick<CommonFlags, "json" | "quiet" | "verbose">;

export function withCommonOptions(command: Command): Command {
  return withOutputOptions(command)
    .option("--data-dir <dir>", "data directory (env DATA_DIR, default ./data)")
    .option("--db <file>", "SQLite file (env DB_PATH, default $DATA_DIR/actor-manifests.db)")
    .addOption(new Option("--storage-mode <mode>", "mirrored or s3-only (env STORAGE_MODE)").choices(["mirrored", "s3-only"]))
    .option("--s3-endpoint <url>", "S3-compatible endpoint (env S3_ENDPOINT; default AWS, or the embedded S3 without AWS credentials)")
    .option("--s3-bucket <name>", "bucket (env S3_BUCKET)")
    .option("--s3-prefix <prefix>", "key prefix of the actors (env S3_PREFIX)");
}

/** `--json`, `-q` and `-v`: on every command, those without a data directory included. */
export function withOutputOptions(command: Command): Command {
  return command
    .option("--json", "print one JSON envelope for scripts ({ ok, command, exitCode, outcome, result, problems, errors }); no progress")
    .option("-q, --quiet", "no progress and no summary: print only problems and errors")
    .option("-v, --verbose", "list every item (summaries otherwise show the first few)");
}

/** Options that pick actors: `--actor NAME|ID` (repeatable) or `--all`. */
export function withActorSelection(command: Command): Command {
  return command
    .option("--actor <name>", "an actor name or character id (repeatable)", repeatable, [] as string[])
    .option("--all", "every actor");
}

/** `-n/--dry-run` on a command that changes something: the plan is printed and nothing is changed. */
export function withDryRun(command: Command, description: string): Command {
  return command.option("-n, --dry-run", description);
}

/** Commander's parser for an option given more than once: every value, in order. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Something a command left undone or that needs a person, beside its result: a sentence and its details (file, actor, …). */
export interface Problem {
  message: string;
  [detail: string]: unknown;
}

/** What stopped a command: the sentence, the error's name as a code, and its plain details (limit, count, …). */
export interface ErrorEntry {
  message: string;
  code: string;
  [detail: string]: unknown;
}

/**
 * The one shape `--json` prints on every command, errors included (docs/cli.md). `ok` is
 * exit code 0; `result` is the command's report (null when it stopped before one).
 */
export interface Envelope {
  ok: boolean;
  command: string;
  exitCode: number;
  outcome: Outcome;
  result: unknown;
  problems: Problem[];
  errors: ErrorEntry[];
}

/** A CLI process runs one command: what it printed for the envelope waits here until it ends. */
const current = {
  command: "",
  output: {} as OutputFlags,
  result: null as unknown,
  problems: [] as Problem[],
};

/**
 * Parses the command line and runs the command: commander's usage errors exit 2 (and under
 * `--json` print the envelope), `--help` and `--version` exit 0.
 */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  for (const command of commandTree(program)) command.exitOverride();
  program.hook("preAction", (_program, command) => {
    current.command = commandPath(command);
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return; // --help, --version
    process.exitCode = exitCodes.usage;
    if (argv.includes("--json")) {
      current.command = commandNamed(program, argv);
      // Commander has already said it on stderr, prefixed with "error: ".
      printEnvelope(exitCodes.usage, [{ message: error.message.replace(/^error: /, ""), code: "UsageError" }]);
    }
  }
}

function commandTree(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commandTree)];
}

/** `config show`, not `show`: the words a user typed, without the program's name. */
function commandPath(command: Command): string {
  const words: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) words.unshift(c.name());
  return words.join(" ");
}

/** The command a (wrong) command line meant: the first of its words that names one. */
function commandNamed(program: Command, argv: string[]): string {
  let command = program;
  for (const word of argv.slice(2)) {
    const next = command.commands.find((c) => c.name() === word);
    if (next) command = next;
  }
  return commandPath(command);
}

/**
 * Runs one command: its exit code (a thrown error is 1, or 2 for a usage error), and under
 * `--json` the envelope on stdout, errors too; otherwise the error on stderr.
 */
export async function runCommand(flags: OutputFlags, run: () => Promise<number | undefined>): Promise<void> {
  current.output = flags;
  let code: number;
  const errors: ErrorEntry[] = [];
  try {
    code = (await run()) ?? exitCodes.done;
  } catch (error) {
    code = error instanceof UsageError ? exitCodes.usage : exitCodes.error;
    errors.push(errorEntry(error));
    if (!flags.json) console.error(`error: ${errors[0]!.message}`);
  }
  process.exitCode = code;
  if (flags.json) printEnvelope(code, errors);
}

/** Opens the composition root for one command run (logger as quiet as asked), runs it, and closes it. */
export async function runWithContext(flags: CommonFlags, run: (ctx: AppContext) => Promise<number | undefined>): Promise<void> {
  await runCommand(flags, async () => {
    // Loaded here, not at the top: `--help` needs none of it (SPEC.md §9: a CLI starts at once).
    const [{ loadConfig }, { consoleLogger, silentLogger }, { openApp }] = await Promise.all([
      import("../../src/config.ts"),
      import("../../src/context.ts"),
      import("../../src/app.ts"),
    ]);
    const config = loadConfig(process.env, configOverrides(flags));
    const logger: Logger = flags.json ? silentLogger : flags.quiet ? { ...consoleLogger, info() {} } : consoleLogger;
    const app = openApp(config, logger);
    try {
      return await run(app.ctx);
    } finally {
      app.close();
    }
  });
}

/** The configuration flags among a command's flags (`--port` as a number). */
export function configOverrides(flags: CommonFlags & { host?: string; port?: string }): ConfigOverrides {
  const { dataDir, db, host, port, storageMode, s3Endpoint, s3Bucket, s3Prefix } = flags;
  return { dataDir, db, host, port: port === undefined ? undefined : Number(port), storageMode, s3Endpoint, s3Bucket, s3Prefix };
}

function errorEntry(error: unknown): ErrorEntry {
  if (!(error instanceof Error)) return { message: String(error), code: "Error" };
  // The error's own plain fields (limit, count, actor, filenames), not objects such as a plan.
  const details = Object.entries(error).filter(
    ([key, value]) => key !== "name" && (isPlain(value) || (Array.isArray(value) && value.every(isPlain))),
  );
  return { ...Object.fromEntries(details), message: error.message, code: error.name };
}

function isPlain(value: unknown): boolean {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function printEnvelope(code: number, errors: ErrorEntry[]): void {
  const envelope: Envelope = {
    ok: code === exitCodes.done,
    command: current.command,
    exitCode: code,
    outcome: outcomeOf(code),
    result: current.result,
    problems: current.problems,
    errors,
  };
  process.stdout.write(`${JSON.stringify(camelCaseKeys(envelope), null, 2)}\n`);
}

/**
 * One key casing with the GraphQL API: snake_case keys of the reports (status counts such as
 * `local_only`) become camelCase. Only lower-case identifiers change; actor names begin with
 * their id's digits and filenames hold a dot, so no data is ever renamed.
 */
function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/.test(key) ? key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) : key,
      camelCaseKeys(inner),
    ]),
  );
}

/** A progress bar on stderr when a person is watching; nothing under --json or -q, or without a TTY. */
export function progressBar(label: string, quiet: boolean | undefined) {
  if (quiet || current.output.quiet || !process.stderr.isTTY) return { update: (_done: number, _total: number) => {}, stop: () => {} };
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

/**
 * Gives the command's result: kept for the envelope under --json; otherwise the summary
 * lines (the headline last), or with -q only the problems.
 */
export function printResult(json: boolean | undefined, result: unknown, summary: () => string[], problems: Problem[] = []): void {
  current.result = result;
  current.problems = problems;
  if (json) return;
  const lines = current.output.quiet ? problems.map((problem) => problem.message) : summary();
  for (const line of lines) process.stdout.write(`${line}\n`);
}

/** `a, b, c, … (12 more; -v lists all)`: the first few names unless -v. */
export function listed(names: string[], limit = 10): string {
  if (current.output.verbose || names.length <= limit) return names.join(", ");
  return `${names.slice(0, limit).join(", ")}, … (${names.length - limit} more; -v lists all)`;
}

/** The first few lines unless -v, then how many more. */
export function firstLines(lines: string[], limit: number, indent = "  "): string[] {
  if (current.output.verbose || lines.length <= limit) return lines;
  return [...lines.slice(0, limit), `${indent}… and ${lines.length - limit} more (-v lists all)`];
}
