/**
 * What the write-through commands (repair.ts, image-commands.ts) share: their operations,
 * loaded when one runs, the --max-delete limit, and the lines their summaries are made of.
 */
import { InvalidArgumentError, Option } from "commander";
import { counted, humanSize } from "../../src/human-size.ts";
import { defaultMaxDelete } from "../../src/sync/operations/deletion-limits.ts";
import type { OperationReport } from "../../src/sync/operations/operation-common.ts";
import type { ActorPlan, PlanStep } from "../../src/sync/operations/plan.ts";
import { firstLines, printResult, type CommonFlags, type Problem } from "./common.ts";
import { exitCodeOfParts } from "./exit-codes.ts";

/** The operations behind these commands, loaded when one runs, never for `--help` (SPEC.md §9: a CLI starts at once). */
export async function loadOperations() {
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
    MaxDeleteExceededError: common.MaxDeleteExceededError,
    operationReport: common.operationReport,
    selectActorIds: selection.selectActorIds,
    withS3: s3.withS3,
    settleInterrupted: startup.settleInterrupted,
  };
}

type Operations = Awaited<ReturnType<typeof loadOperations>>;

export interface SelectionFlags extends CommonFlags {
  actor?: string[];
  all?: boolean;
  dryRun?: boolean;
}

export function maxDeleteOption(): Option {
  return new Option(
    "--max-delete <n>",
    "refuse the whole operation when it would delete more images than this (a dry run still shows the plan)",
  )
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
export async function underDeleteLimit<R extends OperationReport>(
  ops: Operations,
  dryRun: boolean | undefined,
  operation: () => Promise<R>,
  show: (plan: OperationReport) => void,
): Promise<R> {
  try {
    return await operation();
  } catch (error) {
    if (dryRun && error instanceof ops.MaxDeleteExceededError) show(ops.operationReport(true, error.plans, []));
    throw error;
  }
}

/** Prints a one-actor operation's report (delete, rate, add) and gives its exit code. */
export function printOperation(flags: CommonFlags, report: OperationReport, done: string, wouldDo: string, extra: string[] = []): number {
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

export function failedSteps(report: OperationReport) {
  return report.results.flatMap((result) => result.steps.filter((step) => !step.ok).map((step) => ({ actor: result.name, ...step })));
}

export function failedStepProblems(report: OperationReport): Problem[] {
  return failedSteps(report).map((step) => ({
    actor: step.actor,
    filename: step.filename,
    message: `failed: ${step.actor}: ${step.kind} ${step.filename}: ${step.error}`,
  }));
}

/**
 * Manifests a change could not be written to after its steps were done: each named with the
 * reason, and what finishes it (the change is in SQLite, S3 and on disk; its intents wait).
 */
export function pendingProblems(report: Pick<OperationReport, "results">): Problem[] {
  return report.results.flatMap((result) =>
    result.pendingFiles.map((pending) => ({
      actor: result.name,
      file: pending.file,
      message: `pending: ${result.name}: ${pending.reason}; the change is done in SQLite, S3 and on disk: once the file can be written, \`export\` or the next change writes it`,
    })),
  );
}

export function manifestsWritten(report: OperationReport): string[] {
  return report.results
    .filter((result) => result.manifestsWritten.length > 0)
    .map((result) => `wrote ${result.manifestsWritten.join(", ")}`);
}

export function describePlan(plan: ActorPlan): string[] {
  if (plan.steps.length === 0 && plan.skipped.length === 0) return [];
  return [
    `${plan.name}:`,
    ...firstLines(
      plan.steps.map(
        (step) => `  ${step.kind} ${step.filename}${step.bytes > 0 ? ` (${humanSize(step.bytes)})` : ""}: ${step.reason}${trashNote(step)}`,
      ),
      20,
    ),
    ...describeSkipped(plan).slice(1),
  ];
}

/** What a step keeps in the trash, e.g. `; the local file (2.0 kB) goes to the trash`. */
function trashNote(step: PlanStep): string {
  if (!("toTrash" in step) || step.toTrash.length === 0) return "";
  const what = step.toTrash.map((loser) => `the ${loser.side === "local" ? "local file" : "S3 object"} (${humanSize(loser.bytes)})`);
  return `; ${what.join(" and ")} ${what.length > 1 ? "go" : "goes"} to the trash`;
}

export function describeSkipped(plan: ActorPlan): string[] {
  if (plan.skipped.length === 0) return [];
  return [
    `${plan.name}:`,
    ...firstLines(
      plan.skipped.map((s) => `  left alone: ${s.filename}: ${s.reason}`),
      10,
    ),
  ];
}

/** The summary's last line: what was left alone, how many for each reason (each reason names the flag that changes it). */
export function leftAlone(plans: ActorPlan[]): string[] {
  const byReason = new Map<string, number>();
  for (const skipped of plans.flatMap((plan) => plan.skipped)) byReason.set(skipped.reason, (byReason.get(skipped.reason) ?? 0) + 1);
  if (byReason.size === 0) return [];
  const total = [...byReason.values()].reduce((a, b) => a + b, 0);
  return [`left alone ${counted(total, "image")}: ${[...byReason].map(([reason, count]) => `${count} ${reason}`).join("; ")}`];
}
