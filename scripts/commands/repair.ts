import { basename } from "node:path";
import { type Command, Option } from "commander";
import cliProgress from "cli-progress";
import { defaultMaxDelete, deleteTargets, type DeleteFrom } from "../../src/sync/deletion-limits.ts";
import type { MigrateLegacyReport } from "../../src/sync/migrate-legacy.ts";
import type { OperationReport } from "../../src/sync/operation-common.ts";
import { planTotals, type ActorPlan, type OutOfSyncResolution, type SyncDirection } from "../../src/sync/plan.ts";
import type { PruneLocalReport } from "../../src/sync/prune-local.ts";
import type { SyncReport } from "../../src/sync/sync.ts";
import { printResult, progressBar, runWithContext, withActorSelection, withCommonOptions, type CommonFlags } from "./common.ts";
import { formatBytes } from "./status-table.ts";

/** The operations behind these commands, loaded when one runs, never for `--help` (SPEC.md §9: a CLI starts at once). */
async function loadOperations() {
  const [add, remove, migrate, rate, jobWork, cliJobs, selection, s3] = await Promise.all([
    import("../../src/sync/add-images.ts"),
    import("../../src/sync/delete-images.ts"),
    import("../../src/sync/migrate-legacy.ts"),
    import("../../src/sync/rate-images.ts"),
    import("../../src/sync/job-work.ts"),
    import("../../src/sync/cli-jobs.ts"),
    import("./actor-selection.ts"),
    import("./with-s3.ts"),
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
    selectActorIds: selection.selectActorIds,
    withS3: s3.withS3,
  };
}

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
  return new Option("--max-delete <n>", "refuse the whole operation when it would delete more images than this")
    .default(defaultMaxDelete)
    .argParser(nonNegativeInteger);
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a whole number: ${value}`);
  return n;
}

// ---------------------------------------------------------------- sync

interface SyncFlags extends SelectionFlags {
  direction: SyncDirection;
  outOfSync: OutOfSyncResolution;
}

function registerSync(program: Command): void {
  withActorSelection(withCommonOptions(program.command("sync")))
    .description("audit, then upload local-only, download S3-only and repair out-of-sync images, written through S3, disk, SQLite and manifests")
    .addOption(new Option("--direction <direction>", "push (upload only), pull (download only) or both").choices(["push", "pull", "both"]).default("both"))
    .addOption(
      new Option("--out-of-sync <winner>", "who wins where both sides differ: local, s3, newer, or skip (leave them)").choices(["local", "s3", "newer", "skip"]).default("skip"),
    )
    .option("--dry-run", "print the plan (what would be uploaded, downloaded, overwritten, with bytes) and change nothing")
    .action((flags: SyncFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const actorIds = ops.selectActorIds(ctx, flags);
        return ops.withS3(ctx, async (s3) => {
          const bar = bytesBar(flags.json);
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
          printResult(flags.json, report, () => summarizeSync(report));
          return report.failedSteps > 0 || report.failedActors.length > 0 ? 1 : 0;
        });
      }),
    );
}

function summarizeSync(report: SyncReport): string[] {
  const failed = report.results.flatMap((result) => result.steps.filter((step) => !step.ok).map((step) => ({ actor: result.name, ...step })));
  // What was done: the plan less what failed (a dry run: the plan).
  const failedKeys = new Set(failed.map((step) => `${step.actor}/${step.filename}`));
  const applied = new Set(report.results.map((result) => result.name));
  const t = report.dryRun
    ? report.totals
    : planTotals(report.plans.filter((plan) => applied.has(plan.name)).map((plan) => ({ ...plan, steps: plan.steps.filter((step) => !failedKeys.has(`${plan.name}/${step.filename}`)) })));
  const failedBytes = failed.reduce((sum, step) => sum + step.bytes, 0);
  const [up, down, over] = report.dryRun ? ["would upload", "would download", "would overwrite"] : ["uploaded", "downloaded", "overwrote"];
  const lines = [
    `${report.dryRun ? "dry run, nothing changed: " : ""}${report.plans.length} actors in ${report.seconds.toFixed(2)} s: ` +
      `${up} ${t.uploads} (${formatBytes(t.uploadBytes)}), ${down} ${t.downloads} (${formatBytes(t.downloadBytes)}), ` +
      `${over} ${t.overwrites} (${formatBytes(t.overwriteBytes)})` +
      (report.dryRun ? "" : `, failed ${failed.length} (${formatBytes(failedBytes)})`),
  ];
  if (report.dryRun) lines.push(...report.plans.flatMap(describePlan));
  else lines.push(...report.plans.flatMap((plan) => describeSkipped(plan)));
  lines.push(...failed.map((step) => `failed: ${step.actor}: ${step.kind} ${step.filename}: ${step.error}`));
  lines.push(...report.failedActors.map((actor) => `failed: ${actor.name}: ${actor.error}`));
  return lines;
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
  withCommonOptions(program.command("delete"))
    .description("delete images of one actor: from the manifest only, or also from S3, local disk, or everywhere")
    .argument("[filenames...]", "the images to delete (or --all-images)")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--all-images", "every image of the actor")
    .addOption(new Option("--from <where>", "manifest (forget the row only), s3, disk, or everywhere").choices([...deleteTargets]).makeOptionMandatory())
    .option("--dry-run", "print what would be deleted, with bytes, and change nothing")
    .addOption(maxDeleteOption())
    .action((filenames: string[], flags: DeleteFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        if ((filenames.length > 0) === (flags.allImages === true)) throw new Error("name the images to delete, or give --all-images (not both)");
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
        const report = needsS3 ? await ops.withS3(ctx, run) : await run(null);
        printResult(flags.json, report, () => summarizeOperation(report, "deleted", "would delete"));
        return report.failedSteps > 0 ? 1 : 0;
      }),
    );
}

// ---------------------------------------------------------------- rate

interface RateFlags extends CommonFlags {
  actor: string;
  good?: boolean;
  bad?: boolean;
  unrated?: boolean;
}

function registerRate(program: Command): void {
  withCommonOptions(program.command("rate"))
    .description("rate images good, bad or unrated: SQLite, prompt_metadata.json and the manifests")
    .argument("<filenames...>", "the images to rate")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--good", "rate good")
    .option("--bad", "rate bad")
    .option("--unrated", "take the rating back")
    .action((filenames: string[], flags: RateFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        const chosen = [flags.good && true, flags.bad && false, flags.unrated && null].filter((value) => value !== undefined);
        if (chosen.length !== 1) throw new Error("give exactly one of --good, --bad, --unrated");
        const good = chosen[0] as boolean | null;
        const report = await ops.runAsJob(ctx, "rate", { actors: [flags.actor], filenames, good }, {}, async (job) => {
          const rated = await ops.rateImages(ctx, { actor: flags.actor, filenames, good });
          ops.reportOperation(job, rated);
          return rated;
        });
        printResult(flags.json, report, () => summarizeOperation(report, "rated", "would rate"));
        return report.failedSteps > 0 ? 1 : 0;
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
  withCommonOptions(program.command("add"))
    .description("add image files to an actor: uploaded verified (x-amz-meta-md5), written locally (mirrored mode), with a prompt and a new generation")
    .argument("<files...>", "image files to add (each keeps its file name unless --as)")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--as <filename>", "the image's filename in the actor (one file only)")
    .option("--prompt <text>", "the prompt that produced the images")
    .option("--generation-type <type>", "type of the new generation", "upload")
    .option("--overwrite", "replace images the actor already has")
    .option("--dry-run", "print what would be uploaded and change nothing")
    .action((files: string[], flags: AddFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadOperations();
        if (flags.as && files.length !== 1) throw new Error("--as names one file; give one file");
        const images = files.map((path) => ({ path, filename: flags.as ?? basename(path), prompt: flags.prompt ?? null }));
        const params = { actors: [flags.actor], filenames: images.map((image) => image.filename), generationType: flags.generationType, overwrite: flags.overwrite === true };
        const report = await ops.withS3(ctx, (s3) =>
          ops.runAsJob(ctx, "add", params, { dryRun: flags.dryRun }, async (job) => {
            const added = await ops.addImages(ctx, s3, { actor: flags.actor, images, generationType: flags.generationType, overwrite: flags.overwrite, dryRun: flags.dryRun });
            ops.reportOperation(job, added);
            return added;
          }),
        );
        printResult(flags.json, report, () => [
          ...summarizeOperation(report, "added", "would add"),
          ...(report.generation ? [`generation ${report.generation.key} (${report.generation.type}): ${report.generation.imageCount} images`] : []),
        ]);
        return report.failedSteps > 0 ? 1 : 0;
      }),
    );
}

// ---------------------------------------------------------------- migrate-legacy

function registerMigrateLegacy(program: Command): void {
  withActorSelection(withCommonOptions(program.command("migrate-legacy")))
    .description("fold legacy response.json files into the manifests, then move each aside to response.json.bak-<time>")
    .option("--dry-run", "print what the manifests would gain and change nothing")
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
        printResult(flags.json, report, () => summarizeMigration(report));
        return report.failed > 0 ? 1 : 0;
      }),
    );
}

function summarizeMigration(report: MigrateLegacyReport): string[] {
  if (report.actors.length === 0) return ["no response.json to migrate"];
  const lines = [`${report.dryRun ? "would migrate" : "migrated"} ${report.actors.length - report.failed} of ${report.actors.length} response.json files`];
  for (const actor of report.actors) {
    if (actor.error) lines.push(`failed: ${actor.name}: ${actor.error}`);
    else {
      lines.push(`${actor.name}: ${actor.listed.length} images listed, ${actor.added.length} new to format A${actor.backupPath ? `; kept as ${actor.backupPath}` : ""}`);
      if (actor.added.length > 0) lines.push(`  ${report.dryRun ? "would add" : "added"}: ${list(actor.added)}`);
    }
  }
  return lines;
}

// ---------------------------------------------------------------- prune-local

interface PruneFlags extends SelectionFlags {
  maxDelete: number;
  allowSuspect?: boolean;
  switchToS3Only?: boolean;
}

function registerPruneLocal(program: Command): void {
  withActorSelection(withCommonOptions(program.command("prune-local")))
    .description("s3-only conversion: delete local files whose content S3 verifiably holds (audited by MD5); keep the rest and say why")
    .option("--dry-run", "print what would be deleted and kept, and change nothing")
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
          const report = await ops.runAsJob(ctx, "prune_local", params, { dryRun: flags.dryRun }, (job) =>
            ops.reportedPrune(ctx, s3, job, {
              actorIds: flags.all ? undefined : actorIds,
              dryRun: flags.dryRun,
              maxDelete: flags.maxDelete,
              allowSuspect: flags.allowSuspect,
              switchToS3Only: flags.switchToS3Only,
              onProgress: (progress) => bar.update(progress.actorsDone, progress.actorsTotal),
            }),
          );
          bar.stop();
          printResult(flags.json, report, () => summarizePrune(report));
          return report.failedSteps > 0 || report.failedActors.length > 0 ? 1 : 0;
        });
      }),
    );
}

function summarizePrune(report: PruneLocalReport): string[] {
  const lines = summarizeOperation(report, "pruned", "would prune");
  const byReason = new Map<string, string[]>();
  for (const kept of report.kept) byReason.set(kept.reason, [...(byReason.get(kept.reason) ?? []), `${kept.actor}/${kept.filename}`]);
  for (const [reason, names] of byReason) lines.push(`kept ${names.length}: ${reason}: ${list(names)}`);
  lines.push(...report.failedActors.map((actor) => `failed: ${actor.name}: ${actor.error}`));
  return lines;
}

// ---------------------------------------------------------------- shared output

function summarizeOperation(report: OperationReport, done: string, wouldDo: string): string[] {
  const steps = report.plans.reduce((count, plan) => count + plan.steps.length, 0);
  const bytes = report.plans.reduce((sum, plan) => sum + plan.steps.reduce((s, step) => s + step.bytes, 0), 0);
  const failed = report.results.flatMap((result) => result.steps.filter((step) => !step.ok).map((step) => ({ actor: result.name, ...step })));
  const lines = [
    report.dryRun
      ? `dry run: ${wouldDo} ${steps} images (${formatBytes(bytes)}); nothing was changed`
      : `${done} ${steps - failed.length} of ${steps} images (${formatBytes(bytes)})${failed.length > 0 ? `; ${failed.length} failed` : ""}`,
  ];
  if (report.dryRun) lines.push(...report.plans.flatMap(describePlan));
  lines.push(...failed.map((step) => `failed: ${step.actor}: ${step.filename}: ${step.error}`));
  for (const result of report.results) if (result.manifestsWritten.length > 0) lines.push(`wrote ${result.manifestsWritten.join(", ")}`);
  return lines;
}

function describePlan(plan: ActorPlan): string[] {
  if (plan.steps.length === 0 && plan.skipped.length === 0) return [];
  return [
    `${plan.name}:`,
    ...plan.steps.slice(0, 20).map((step) => `  ${step.kind} ${step.filename} (${formatBytes(step.bytes)}): ${step.reason}`),
    ...(plan.steps.length > 20 ? [`  … and ${plan.steps.length - 20} more`] : []),
    ...describeSkipped(plan).slice(1),
  ];
}

function describeSkipped(plan: ActorPlan): string[] {
  if (plan.skipped.length === 0) return [];
  return [`${plan.name}:`, ...plan.skipped.slice(0, 10).map((s) => `  left alone: ${s.filename}: ${s.reason}`), ...(plan.skipped.length > 10 ? [`  … and ${plan.skipped.length - 10} more left alone`] : [])];
}

function list(names: string[]): string {
  return `${names.slice(0, 10).join(", ")}${names.length > 10 ? `, … (${names.length - 10} more)` : ""}`;
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
      const payload = { phase: next, done: bytes ? formatBytes(done) : String(done), size: bytes ? formatBytes(total) : String(total) };
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
