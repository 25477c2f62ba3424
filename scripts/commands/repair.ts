/** The write-through commands (SPEC.md §7): sync, migrate-legacy and prune-local here; delete, rate and add of one actor in image-commands.ts. */
import { type Command, Option } from "commander";
import cliProgress from "cli-progress";
import { counted, humanSize } from "../../src/human-size.ts";
import type { MigrateLegacyReport } from "../../src/sync/manifests/migrate-legacy.ts";
import { planTotals, type OutOfSyncResolution, type SyncDirection } from "../../src/sync/operations/plan.ts";
import type { PruneLocalReport } from "../../src/sync/operations/prune-local.ts";
import type { SyncReport } from "../../src/sync/operations/sync.ts";
import {
  listed,
  printResult,
  progressBar,
  runWithContext,
  withActorSelection,
  withCommonOptions,
  withDryRun,
  type Problem,
} from "./common.ts";
import { exitCodeOfParts } from "./exit-codes.ts";
import { registerAdd, registerDelete, registerRate } from "./image-commands.ts";
import {
  describePlan,
  describeSkipped,
  failedStepProblems,
  failedSteps,
  leftAlone,
  loadOperations,
  manifestsWritten,
  maxDeleteOption,
  pendingProblems,
  underDeleteLimit,
  type SelectionFlags,
} from "./operation-commands.ts";

/** The write-through operations of SPEC.md §7 as commands: sync, delete, rate, add, migrate-legacy, prune-local. */
export function registerRepairCommands(program: Command): void {
  registerSync(program);
  registerDelete(program);
  registerRate(program);
  registerAdd(program);
  registerMigrateLegacy(program);
  registerPruneLocal(program);
}

// ---------------------------------------------------------------- sync

interface SyncFlags extends SelectionFlags {
  direction: SyncDirection;
  outOfSync: OutOfSyncResolution;
}

function registerSync(program: Command): void {
  withDryRun(
    withActorSelection(withCommonOptions(program.command("sync"))),
    "print the plan (what would be uploaded, downloaded, overwritten, with bytes) and change nothing",
  )
    .description(
      "audit, then upload local-only, download S3-only and repair out-of-sync images, written through S3, disk, SQLite and manifests; exits 4 when some actors failed",
    )
    .addOption(
      new Option("--direction <direction>", "push (upload only), pull (download only) or both")
        .choices(["push", "pull", "both"])
        .default("both"),
    )
    .addOption(
      new Option("--out-of-sync <winner>", "who wins where both sides differ: local, s3, newer, or skip (leave them)")
        .choices(["local", "s3", "newer", "skip"])
        .default("skip"),
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
    : planTotals(
        report.plans
          .filter((plan) => applied.has(plan.name))
          .map((plan) => ({ ...plan, steps: plan.steps.filter((step) => !failedKeys.has(`${plan.name}/${step.filename}`)) })),
      );
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

// ---------------------------------------------------------------- migrate-legacy

function registerMigrateLegacy(program: Command): void {
  withDryRun(
    withActorSelection(withCommonOptions(program.command("migrate-legacy"))),
    "print what the manifests would gain and change nothing",
  )
    .description(
      "fold legacy response.json files into the manifests, then move each aside to response.json.bak-<time>; exits 4 when some failed",
    )
    .action((flags: SelectionFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const actorIds = ops.selectActorIds(ctx, flags);
        const report = await ops.runAsJob(
          ctx,
          "migrate_legacy",
          { all: flags.all === true, actors: flags.actor ?? [] },
          { dryRun: flags.dryRun },
          async (job) => {
            const migrated = await ops.migrateLegacy(ctx, { actorIds, dryRun: flags.dryRun });
            for (const actor of migrated.actors)
              job.actor({
                actorId: null,
                actorName: actor.name,
                state: actor.error ? "failed" : "succeeded",
                outcome: { added: actor.added },
                error: actor.error ?? null,
              });
            if (!migrated.dryRun)
              for (const actor of migrated.actors.filter((m) => !m.error)) job.actorChanged({ id: null, name: actor.name });
            return migrated;
          },
        );
        const problems = report.actors
          .filter((actor) => actor.error)
          .map((actor) => ({ actor: actor.name, message: `failed: ${actor.name}: ${actor.error}` }));
        printResult(flags.json, report, () => summarizeMigration(report, problems), problems);
        return exitCodeOfParts(report.actors.length - report.failed, report.failed);
      }),
    );
}

function summarizeMigration(report: MigrateLegacyReport, problems: Problem[]): string[] {
  if (report.actors.length === 0) return ["no response.json to migrate"];
  const lines: string[] = [];
  for (const actor of report.actors.filter((a) => !a.error)) {
    lines.push(
      `${actor.name}: ${counted(actor.listed.length, "image")} listed, ${actor.added.length} new to format A${actor.backupPath ? `; kept as ${actor.backupPath}` : ""}`,
    );
    if (actor.added.length > 0) lines.push(`  ${report.dryRun ? "would add" : "added"}: ${listed(actor.added)}`);
  }
  lines.push(...problems.map((problem) => problem.message));
  lines.push(
    `${report.dryRun ? "dry run, nothing changed: would migrate" : "migrated"} ${report.actors.length - report.failed} of ${counted(report.actors.length, "response.json file")}`,
  );
  return lines;
}

// ---------------------------------------------------------------- prune-local

interface PruneFlags extends SelectionFlags {
  maxDelete: number;
  allowSuspect?: boolean;
  switchToS3Only?: boolean;
}

function registerPruneLocal(program: Command): void {
  withDryRun(
    withActorSelection(withCommonOptions(program.command("prune-local"))),
    "print what would be deleted and kept, and change nothing (also over --max-delete)",
  )
    .description(
      "s3-only conversion: delete local files whose content S3 verifiably holds (audited by MD5); keep the rest and say why; exits 4 when some actors failed",
    )
    .addOption(maxDeleteOption())
    .option("--allow-suspect", "audit even when a listing is empty or would take most of an actor's images off a side")
    .option(
      "--switch-to-s3-only",
      "record the data directory as s3-only first (required unless it is already): its syncs then never download what was pruned",
    )
    .action((flags: PruneFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const actorIds = ops.selectActorIds(ctx, flags);
        return ops.withS3(ctx, async (s3) => {
          const bar = progressBar("audit", flags.json);
          const params = {
            all: flags.all === true,
            actors: flags.actor ?? [],
            maxDelete: flags.maxDelete,
            allowSuspect: flags.allowSuspect === true,
            switchToS3Only: flags.switchToS3Only === true,
          };
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

/** A progress bar on stderr that counts actors while auditing and bytes while transferring. */
function bytesBar(quiet: boolean | undefined) {
  if (quiet || !process.stderr.isTTY)
    return { update: (_phase: string, _done: number, _total: number, _bytes: boolean) => {}, stop: () => {} };
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
