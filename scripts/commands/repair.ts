import { basename } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import { counted, humanSize } from "../../src/human-size.ts";
import { defaultMaxDelete, deleteTargets, type DeleteFrom } from "../../src/sync/operations/deletion-limits.ts";
import type { MigrateLegacyReport } from "../../src/sync/manifests/migrate-legacy.ts";
import type { OperationReport } from "../../src/sync/operations/operation-common.ts";
import { planTotals, type ActorPlan, type OutOfSyncResolution, type PlanStep, type SyncDirection } from "../../src/sync/operations/plan.ts";
import type { PruneLocalReport } from "../../src/sync/operations/prune-local.ts";
import type { SyncReport } from "../../src/sync/operations/sync.ts";
import {
  firstLines,
  listed,
  printResult,
  progressBar,
  runWithContext,
  withActorSelection,
  withCommonOptions,
  withDryRun,
  type CommonFlags,
  type Problem,
} from "./common.ts";
import { exitCodeOfParts, UsageError } from "./exit-codes.ts";

/** The operations behind these commands, loaded when one runs, never for `--help` (SPEC.md §9: a CLI starts at once). */
async function loadOperations() {
  const [add, remove, migrate, rate, jobWork, cliJobs, common, selection, s3, startup] = await Promise.all([
    import("../../src/sync/operations/add-images.ts"),
    import("../../src/sync/operations/delete-images.ts"),
    import("../../src/sync/manifests/migrate-legacy.ts"),
    import("../../src/sync/operations/rate-images.ts"),
    import("../../src/sync/jobs/job-work.ts"),
    import("../../src/sync/jobs/cli-jobs.ts"),
    import("../../src/sync/operations/operation-common.ts"),
    import("./actor-selection.ts"),
    import("./with-s3.ts"),
    import("../../src/startup.ts"),
  ]);
  return {
    addImages: add.addImages,
    deleteImages: remove.deleteImages,
    migrateLegacy: migrate.migrateLegacy,
    rateImages: rate.rateImages,
    reportedPrune: jobWork.reportedPrune,
    reportedSync: jobWork.reportedSync,
    reportOperation: jobWork.reportOperation,
    runAsJob: cliJobs.runAsJob,
    MaxDeleteError: common.MaxDeleteError,
    operationReport: common.operationReport,
    selectActorIds: selection.selectActorIds,
    withS3: s3.withS3,
    settleInterrupted: startup.settleInterrupted,
  };
}

type Operations = Awaited<ReturnType<typeof loadOperations>>;

interface SelectionFlags extends CommonFlags {
  actor?: string[];
  all?: boolean;
  dryRun?: boolean;
}

/** The write-through operations of SPEC.md §7 as commands: sync, delete, rate, add, migrate-legacy, prune-local. */
export function registerRepairCommands(program: Command): void {
  registerSync(program);
  registerDelete(program);
  registerRate(program);
  registerAdd(program);
  registerMigrateLegacy(program);
  registerPruneLocal(program);
}

function maxDeleteOption(): Option {
  return new Option("--max-delete <n>", "refuse the whole operation when it would delete more images than this (a dry run still shows the plan)")
    .default(defaultMaxDelete)
    .argParser(nonNegativeInteger);
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a whole number: ${value}`);
  return n;
}

/**
 * Runs an operation a --max-delete limit can refuse. A dry run shows the refused plan all the
 * same (SPEC.md §9), then the refusal is reported as the error it is (exit 1).
 */
async function underDeleteLimit<R extends OperationReport>(
  ops: Operations,
  dryRun: boolean | undefined,
  operation: () => Promise<R>,
  show: (plan: OperationReport) => void,
): Promise<R> {
  try {
    return await operation();
  } catch (error) {
    if (dryRun && error instanceof ops.MaxDeleteError) show(ops.operationReport(true, error.plans, []));
    throw error;
  }
}

// ---------------------------------------------------------------- sync

interface SyncFlags extends SelectionFlags {
  direction: SyncDirection;
  outOfSync: OutOfSyncResolution;
}

function registerSync(program: Command): void {
  withDryRun(withActorSelection(withCommonOptions(program.command("sync"))), "print the plan (what would be uploaded, downloaded, overwritten, with bytes) and change nothing")
    .description(
      "audit, then upload local-only, download S3-only and repair out-of-sync images, written through S3, disk, SQLite and manifests; exits 4 when some actors failed",
    )
    .addOption(new Option("--direction <direction>", "push (upload only), pull (download only) or both").choices(["push", "pull", "both"]).default("both"))
    .addOption(
      new Option("--out-of-sync <winner>", "who wins where both sides differ: local, s3, newer, or skip (leave them)").choices(["local", "s3", "newer", "skip"]).default("skip"),
    )
    .action((flags: SyncFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const actorIds = ops.selectActorIds(ctx, flags);
        return ops.withS3(ctx, async (s3) => {
          const bar = bytesBar(flags.json || flags.quiet);
          const params = { all: flags.all === true, actors: flags.actor ?? [], direction: flags.direction, outOfSync: flags.outOfSync };
          const report = await ops.runAsJob(ctx, "sync", params, { dryRun: flags.dryRun }, (job) =>
            ops.reportedSync(ctx, s3, job, {
              actorIds: flags.all ? undefined : actorIds,
              direction: flags.direction,
              outOfSync: flags.outOfSync,
              dryRun: flags.dryRun,
              onProgress: (progress) => {
                if (progress.phase === "audit") bar.update("audit", progress.actorsDone, progress.actorsTotal, false);
                else bar.update("transfer", progress.bytesDone, progress.bytesTotal, true);
              },
            }),
          );
          bar.stop();
          const problems = [
            ...failedStepProblems(report),
            ...pendingProblems(report),
            ...report.failedActors.map((actor) => ({ actor: actor.name, message: `failed: ${actor.name}: ${actor.error}` })),
          ];
          printResult(flags.json, report, () => summarizeSync(report, problems), problems);
          const failedActors = new Set(problems.map((problem) => problem.actor));
          return exitCodeOfParts(report.plans.filter((plan) => !failedActors.has(plan.name)).length, failedActors.size);
        });
      }),
    );
}

function summarizeSync(report: SyncReport, problems: Problem[]): string[] {
  const failed = failedSteps(report);
  // What was done: the plan less what failed (a dry run: the plan).
  const failedKeys = new Set(failed.map((step) => `${step.actor}/${step.filename}`));
  const applied = new Set(report.results.map((result) => result.name));
  const t = report.dryRun
    ? report.totals
    : planTotals(report.plans.filter((plan) => applied.has(plan.name)).map((plan) => ({ ...plan, steps: plan.steps.filter((step) => !failedKeys.has(`${plan.name}/${step.filename}`)) })));
  const failedBytes = failed.reduce((sum, step) => sum + step.bytes, 0);
  const [up, down, over] = report.dryRun ? ["would upload", "would download", "would overwrite"] : ["uploaded", "downloaded", "overwrote"];
  return [
    ...report.plans.flatMap((plan) => (report.dryRun ? describePlan(plan) : describeSkipped(plan))),
    ...problems.map((problem) => problem.message),
    `${report.dryRun ? "dry run, nothing changed: " : ""}${counted(report.plans.length, "actor")} in ${report.seconds.toFixed(2)} s: ` +
      `${up} ${counted(t.uploads, "image", t.uploadBytes)}, ${down} ${counted(t.downloads, "image", t.downloadBytes)}, ` +
      `${over} ${counted(t.overwrites, "image", t.overwriteBytes)}` +
      (t.trashed > 0 ? `, ${report.dryRun ? "would keep" : "kept"} ${counted(t.trashed, "file", t.trashBytes)} in the trash` : "") +
      (failed.length > 0 ? `, failed ${counted(failed.length, "image", failedBytes)}` : "") +
      (report.failedActors.length > 0 ? `, ${counted(report.failedActors.length, "actor")} failed` : ""),
    ...leftAlone(report.plans),
  ];
}

// ---------------------------------------------------------------- delete

interface DeleteFlags extends CommonFlags {
  actor: string;
  allImages?: boolean;
  from: DeleteFrom;
  dryRun?: boolean;
  maxDelete: number;
}

function registerDelete(program: Command): void {
  withDryRun(withCommonOptions(program.command("delete")), "print what would be deleted, with bytes, and change nothing (also over --max-delete)")
    .description("delete images of one actor: from the manifest only, or also from S3, local disk, or everywhere; exits 4 when some failed")
    .argument("[filenames...]", "the images to delete (or --all-images)")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--all-images", "every image of the actor")
    .addOption(new Option("--from <where>", "manifest (forget the row only), s3, disk, or everywhere").choices([...deleteTargets]).makeOptionMandatory())
    .addOption(maxDeleteOption())
    .action((filenames: string[], flags: DeleteFlags) =>
      runWithContext(flags, async (ctx) => {
        if ((filenames.length > 0) === (flags.allImages === true)) throw new UsageError("name the images to delete, or give --all-images (not both)");
        const ops = await loadOperations();
        const params = { actors: [flags.actor], filenames: flags.allImages ? "all" : filenames, from: flags.from, maxDelete: flags.maxDelete };
        const run = (s3: Parameters<typeof ops.deleteImages>[1]) =>
          ops.runAsJob(ctx, "delete", params, { dryRun: flags.dryRun }, async (job) => {
            const report = await ops.deleteImages(ctx, s3, {
              actor: flags.actor,
              filenames: flags.allImages ? undefined : filenames,
              from: flags.from,
              dryRun: flags.dryRun,
              maxDelete: flags.maxDelete,
            });
            ops.reportOperation(job, report);
            return report;
          });
        const needsS3 = flags.from === "s3" || flags.from === "everywhere";
        const show = (report: OperationReport) => printOperation(flags, report, "deleted", "would delete");
        const report = await underDeleteLimit(ops, flags.dryRun, () => (needsS3 ? ops.withS3(ctx, run) : run(null)), show);
        return show(report);
      }),
    );
}

// ---------------------------------------------------------------- rate

interface RateFlags extends CommonFlags {
  actor: string;
  good?: boolean;
  bad?: boolean;
  unrated?: boolean;
  dryRun?: boolean;
}

function registerRate(program: Command): void {
  withDryRun(withCommonOptions(program.command("rate")), "print what would be rated and change nothing")
    .description("rate images good, bad or unrated: SQLite, prompt_metadata.json and the manifests")
    .argument("<filenames...>", "the images to rate")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--good", "rate good")
    .option("--bad", "rate bad")
    .option("--unrated", "take the rating back")
    .action((filenames: string[], flags: RateFlags) =>
      runWithContext(flags, async (ctx) => {
        const chosen = [flags.good && true, flags.bad && false, flags.unrated && null].filter((value) => value !== undefined);
        if (chosen.length !== 1) throw new UsageError("give exactly one of --good, --bad, --unrated");
        const ops = await loadOperations();
        const good = chosen[0] as boolean | null;
        // A rating needs no S3: a rating run killed earlier is settled here, the rest by a command with S3.
        if (!flags.dryRun) await ops.settleInterrupted(ctx, null);
        const report = await ops.runAsJob(ctx, "rate", { actors: [flags.actor], filenames, good }, { dryRun: flags.dryRun }, async (job) => {
          const rated = await ops.rateImages(ctx, { actor: flags.actor, filenames, good, dryRun: flags.dryRun });
          ops.reportOperation(job, rated);
          return rated;
        });
        return printOperation(flags, report, "rated", "would rate");
      }),
    );
}

// ---------------------------------------------------------------- add

interface AddFlags extends CommonFlags {
  actor: string;
  as?: string;
  prompt?: string;
  generationType: string;
  overwrite?: boolean;
  dryRun?: boolean;
}

function registerAdd(program: Command): void {
  withDryRun(withCommonOptions(program.command("add")), "print what would be uploaded and change nothing")
    .description("add image files to an actor: uploaded verified (x-amz-meta-md5), written locally (mirrored mode), with a prompt and a new generation")
    .argument("<files...>", "image files to add (each keeps its file name unless --as)")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--as <filename>", "the image's filename in the actor (one file only)")
    .option("--prompt <text>", "the prompt that produced the images")
    .option("--generation-type <type>", "type of the new generation", "upload")
    .option("--overwrite", "replace images the actor already has")
    .action((files: string[], flags: AddFlags) =>
      runWithContext(flags, async (ctx) => {
        if (flags.as && files.length !== 1) throw new UsageError("--as names one file; give one file");
        const ops = await loadOperations();
        const images = files.map((path) => ({ path, filename: flags.as ?? basename(path), prompt: flags.prompt ?? null }));
        const params = { actors: [flags.actor], filenames: images.map((image) => image.filename), generationType: flags.generationType, overwrite: flags.overwrite === true };
        const report = await ops.withS3(ctx, (s3) =>
          ops.runAsJob(ctx, "add", params, { dryRun: flags.dryRun }, async (job) => {
            const added = await ops.addImages(ctx, s3, { actor: flags.actor, images, generationType: flags.generationType, overwrite: flags.overwrite, dryRun: flags.dryRun });
            ops.reportOperation(job, added);
            return added;
          }),
        );
        const generation = report.generation ? [`generation ${report.generation.key} (${report.generation.type}): ${counted(report.generation.imageCount, "image")}`] : [];
        return printOperation(flags, report, "added", "would add", generation);
      }),
    );
}

// ---------------------------------------------------------------- migrate-legacy

function registerMigrateLegacy(program: Command): void {
  withDryRun(withActorSelection(withCommonOptions(program.command("migrate-legacy"))), "print what the manifests would gain and change nothing")
    .description("fold legacy response.json files into the manifests, then move each aside to response.json.bak-<time>; exits 4 when some failed")
    .action((flags: SelectionFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const actorIds = ops.selectActorIds(ctx, flags);
        const report = await ops.runAsJob(ctx, "migrate_legacy", { all: flags.all === true, actors: flags.actor ?? [] }, { dryRun: flags.dryRun }, async (job) => {
          const migrated = await ops.migrateLegacy(ctx, { actorIds, dryRun: flags.dryRun });
          for (const actor of migrated.actors) job.actor({ actorId: null, actorName: actor.name, state: actor.error ? "failed" : "succeeded", outcome: { added: actor.added }, error: actor.error ?? null });
          if (!migrated.dryRun) for (const actor of migrated.actors.filter((m) => !m.error)) job.actorChanged({ id: null, name: actor.name });
          return migrated;
        });
        const problems = report.actors.filter((actor) => actor.error).map((actor) => ({ actor: actor.name, message: `failed: ${actor.name}: ${actor.error}` }));
        printResult(flags.json, report, () => summarizeMigration(report, problems), problems);
        return exitCodeOfParts(report.actors.length - report.failed, report.failed);
      }),
    );
}

function summarizeMigration(report: MigrateLegacyReport, problems: Problem[]): string[] {
  if (report.actors.length === 0) return ["no response.json to migrate"];
  const lines: string[] = [];
  for (const actor of report.actors.filter((a) => !a.error)) {
    lines.push(`${actor.name}: ${counted(actor.listed.length, "image")} listed, ${actor.added.length} new to format A${actor.backupPath ? `; kept as ${actor.backupPath}` : ""}`);
    if (actor.added.length > 0) lines.push(`  ${report.dryRun ? "would add" : "added"}: ${listed(actor.added)}`);
  }
  lines.push(...problems.map((problem) => problem.message));
  lines.push(`${report.dryRun ? "dry run, nothing changed: would migrate" : "migrated"} ${report.actors.length - report.failed} of ${counted(report.actors.length, "response.json file")}`);
  return lines;
}

// ---------------------------------------------------------------- prune-local

interface PruneFlags extends SelectionFlags {
  maxDelete: number;
  allowSuspect?: boolean;
  switchToS3Only?: boolean;
}

function registerPruneLocal(program: Command): void {
  withDryRun(withActorSelection(withCommonOptions(program.command("prune-local"))), "print what would be deleted and kept, and change nothing (also over --max-delete)")
    .description("s3-only conversion: delete local files whose content S3 verifiably holds (audited by MD5); keep the rest and say why; exits 4 when some actors failed")
    .addOption(maxDeleteOption())
    .option("--allow-suspect", "audit even when a listing is empty or would take most of an actor's images off a side")
    .option("--switch-to-s3-only", "record the data directory as s3-only first (required unless it is already): its syncs then never download what was pruned")
    .action((flags: PruneFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const actorIds = ops.selectActorIds(ctx, flags);
        return ops.withS3(ctx, async (s3) => {
          const bar = progressBar("audit", flags.json);
          const params = { all: flags.all === true, actors: flags.actor ?? [], maxDelete: flags.maxDelete, allowSuspect: flags.allowSuspect === true, switchToS3Only: flags.switchToS3Only === true };
          const show = (report: PruneLocalReport) => {
            const problems = [
            ...failedStepProblems(report),
            ...pendingProblems(report),
            ...report.failedActors.map((actor) => ({ actor: actor.name, message: `failed: ${actor.name}: ${actor.error}` })),
          ];
            printResult(flags.json, report, () => summarizePrune(report, problems), problems);
            const failedActors = new Set(problems.map((problem) => problem.actor));
            return exitCodeOfParts(report.plans.filter((plan) => !failedActors.has(plan.name)).length, failedActors.size);
          };
          const report = await underDeleteLimit(
            ops,
            flags.dryRun,
            () =>
              ops.runAsJob(ctx, "prune_local", params, { dryRun: flags.dryRun }, (job) =>
                ops.reportedPrune(ctx, s3, job, {
                  actorIds: flags.all ? undefined : actorIds,
                  dryRun: flags.dryRun,
                  maxDelete: flags.maxDelete,
                  allowSuspect: flags.allowSuspect,
                  switchToS3Only: flags.switchToS3Only,
                  onProgress: (progress) => bar.update(progress.actorsDone, progress.actorsTotal),
                }),
              ),
            (plan) => {
              bar.stop();
              show({ ...plan, kept: [], failedActors: [] });
            },
          );
          bar.stop();
          return show(report);
        });
      }),
    );
}

function summarizePrune(report: PruneLocalReport, problems: Problem[]): string[] {
  const steps = report.plans.reduce((count, plan) => count + plan.steps.length, 0);
  const bytes = report.plans.reduce((sum, plan) => sum + plan.steps.reduce((s, step) => s + step.bytes, 0), 0);
  const failed = failedSteps(report);
  return [
    ...(report.dryRun ? report.plans.flatMap(describePlan) : []),
    ...problems.map((problem) => problem.message),
    ...manifestsWritten(report),
    report.dryRun
      ? `dry run, nothing changed: would prune ${counted(steps, "local file", bytes)}`
      : `pruned ${steps - failed.length} of ${counted(steps, "local file", bytes)}${failed.length > 0 ? `; ${failed.length} failed` : ""}`,
    ...leftAlone(report.plans),
  ];
}

// ---------------------------------------------------------------- shared output

/** Prints a one-actor operation's report (delete, rate, add) and gives its exit code. */
function printOperation(flags: CommonFlags, report: OperationReport, done: string, wouldDo: string, extra: string[] = []): number {
  const steps = report.plans.reduce((count, plan) => count + plan.steps.length, 0);
  const bytes = report.plans.reduce((sum, plan) => sum + plan.steps.reduce((s, step) => s + step.bytes, 0), 0);
  const failed = failedStepProblems(report);
  const problems = [...failed, ...pendingProblems(report)];
  printResult(
    flags.json,
    report,
    () => [
      ...(report.dryRun ? report.plans.flatMap(describePlan) : []),
      ...problems.map((problem) => problem.message),
      ...manifestsWritten(report),
      ...extra,
      report.dryRun
        ? `dry run, nothing changed: ${wouldDo} ${counted(steps, "image", bytes)}`
        : `${done} ${steps - failed.length} of ${counted(steps, "image", bytes)}${failed.length > 0 ? `; ${failed.length} failed` : ""}`,
    ],
    problems,
  );
  // Done steps with a manifest still to write: partly done (4), not done.
  return exitCodeOfParts(steps - failed.length, problems.length);
}

function failedSteps(report: OperationReport) {
  return report.results.flatMap((result) => result.steps.filter((step) => !step.ok).map((step) => ({ actor: result.name, ...step })));
}

function failedStepProblems(report: OperationReport): Problem[] {
  return failedSteps(report).map((step) => ({ actor: step.actor, filename: step.filename, message: `failed: ${step.actor}: ${step.kind} ${step.filename}: ${step.error}` }));
}

/**
 * Manifests a change could not be written to after its steps were done: each named with the
 * reason, and what finishes it (the change is in SQLite, S3 and on disk; its intents wait).
 */
function pendingProblems(report: Pick<OperationReport, "results">): Problem[] {
  return report.results.flatMap((result) =>
    result.pendingFiles.map((pending) => ({
      actor: result.name,
      file: pending.file,
      message: `pending: ${result.name}: ${pending.reason}; the change is done in SQLite, S3 and on disk: once the file can be written, \`export\` or the next change writes it`,
    })),
  );
}

function manifestsWritten(report: OperationReport): string[] {
  return report.results.filter((result) => result.manifestsWritten.length > 0).map((result) => `wrote ${result.manifestsWritten.join(", ")}`);
}

function describePlan(plan: ActorPlan): string[] {
  if (plan.steps.length === 0 && plan.skipped.length === 0) return [];
  return [
    `${plan.name}:`,
    ...firstLines(plan.steps.map((step) => `  ${step.kind} ${step.filename}${step.bytes > 0 ? ` (${humanSize(step.bytes)})` : ""}: ${step.reason}${trashNote(step)}`), 20),
    ...describeSkipped(plan).slice(1),
  ];
}

/** What a step keeps in the trash, e.g. `; the local file (2.0 kB) goes to the trash`. */
function trashNote(step: PlanStep): string {
  if (!("toTrash" in step) || step.toTrash.length === 0) return "";
  const what = step.toTrash.map((loser) => `the ${loser.side === "local" ? "local file" : "S3 object"} (${humanSize(loser.bytes)})`);
  return `; ${what.join(" and ")} ${what.length > 1 ? "go" : "goes"} to the trash`;
}

function describeSkipped(plan: ActorPlan): string[] {
  if (plan.skipped.length === 0) return [];
  return [`${plan.name}:`, ...firstLines(plan.skipped.map((s) => `  left alone: ${s.filename}: ${s.reason}`), 10)];
}

/** The summary's last line: what was left alone, how many for each reason (each reason names the flag that changes it). */
function leftAlone(plans: ActorPlan[]): string[] {
  const byReason = new Map<string, number>();
  for (const skipped of plans.flatMap((plan) => plan.skipped)) byReason.set(skipped.reason, (byReason.get(skipped.reason) ?? 0) + 1);
  if (byReason.size === 0) return [];
  const total = [...byReason.values()].reduce((a, b) => a + b, 0);
  return [`left alone ${counted(total, "image")}: ${[...byReason].map(([reason, count]) => `${count} ${reason}`).join("; ")}`];
}

/** A progress bar on stderr that counts actors while auditing and bytes while transferring. */
function bytesBar(quiet: boolean | undefined) {
  if (quiet || !process.stderr.isTTY) return { update: (_phase: string, _done: number, _total: number, _bytes: boolean) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: "{phase} [{bar}] {percentage}% | {done}/{size} | {eta_formatted} left", stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let phase: string | null = null;
  return {
    update(next: string, done: number, total: number, bytes: boolean) {
      const payload = { phase: next, done: bytes ? humanSize(done) : String(done), size: bytes ? humanSize(total) : String(total) };
      if (phase !== next) {
        if (phase !== null) bar.stop();
        bar.start(Math.max(total, 1), done, payload);
        phase = next;
      } else {
        bar.setTotal(Math.max(total, 1));
        bar.update(done, payload);
      }
    },
    stop() {
      if (phase !== null) bar.stop();
    },
  };
}
