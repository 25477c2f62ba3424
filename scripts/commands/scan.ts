import type { Command } from "commander";
import type { ActorScanResult } from "../../src/sync/checks/scan.ts";
import { counted } from "../../src/human-size.ts";
import { listed, progressBar, printResult, runWithContext, withActorSelection, withCommonOptions, type CommonFlags } from "./common.ts";
import { exitCodeOfParts } from "./exit-codes.ts";
import { statusTable } from "./status-table.ts";

interface ScanFlags extends CommonFlags {
  actor?: string[];
  all?: boolean;
  allowSuspect?: boolean;
}

export function registerScanCommand(program: Command): void {
  withActorSelection(withCommonOptions(program.command("scan")))
    .description(
      "list each actor's S3 prefix and local folder (stat only) and record new, deleted and changed images; exits 4 when some actors failed",
    )
    .option("--allow-suspect", "apply a listing that is empty or would remove more than MAX_REMOVE_SHARE of an actor's images")
    .action((flags: ScanFlags) =>
      runWithContext(flags, async (ctx) => {
        // Loaded when the command runs, never for `--help`.
        const [{ reportedScan }, { runAsJob }, { selectActorIds }, { withS3 }] = await Promise.all([
          import("../../src/sync/jobs/job-work.ts"),
          import("../../src/sync/jobs/cli-jobs.ts"),
          import("./actor-selection.ts"),
          import("./with-s3.ts"),
        ]);
        const actorIds = selectActorIds(ctx, flags);
        // Connects S3 and first settles what an interrupted run left (pending intents).
        return withS3(ctx, async (s3) => {
          const bar = progressBar("scan", flags.json);
          const started = performance.now();
          // --all also adds the actors that only a folder or an S3 prefix tells of.
          const params = { all: flags.all === true, actors: flags.actor ?? [], allowSuspect: flags.allowSuspect === true };
          const report = await runAsJob(ctx, "scan", params, {}, (job) =>
            reportedScan(ctx, s3, job, {
              ...(flags.all ? { all: true } : { actorIds }),
              allowSuspect: flags.allowSuspect,
              onProgress: (done, total) => bar.update(done, total),
            }),
          );
          bar.stop();
          const seconds = (performance.now() - started) / 1000;
          const trouble = report.actors.filter((a) => a.outcome !== "scanned" || a.exportProblems.length > 0);
          const problems = trouble.map((a) => ({
            actor: a.name,
            outcome: a.outcome,
            message: `${a.outcome === "scanned" ? "manifest not written" : a.outcome}: ${a.name}: ${a.error ?? a.exportProblems.join("; ")}`,
          }));
          printResult(
            flags.json,
            report,
            () => [
              ...report.actors.flatMap(describeActor),
              ...(report.discovered.length > 0
                ? [`added actors that have a folder or an S3 prefix and no manifest: ${listed(report.discovered)}`]
                : []),
              ...statusTable(report.counts, report.totalSizeBytes),
              ...problems.map((p) => p.message),
              `scanned ${report.scanned} of ${counted(report.actors.length, "actor")} in ${seconds.toFixed(2)} s: ${report.added} added, ${report.removed} gone from a side, ` +
                `${report.changed} changed, ${report.needsAudit} to audit (\`audit\` reads them)` +
                (report.suspect > 0
                  ? `; left alone: ${counted(report.suspect, "actor")} whose listing looks suspect (--allow-suspect applies it)`
                  : ""),
            ],
            problems,
          );
          return exitCodeOfParts(report.scanned - problems.filter((p) => p.outcome === "scanned").length, problems.length);
        });
      }),
    );
}

/** Per-actor lines only where something happened, so a clean scan of thousands stays short. */
function describeActor(result: ActorScanResult): string[] {
  const lines: string[] = [];
  const list = (label: string, names: string[]) => {
    if (names.length > 0) lines.push(`  ${label} (${names.length}): ${listed(names)}`);
  };
  list("orphans added", result.added);
  list("gone from S3", result.removedFromS3);
  list("gone locally", result.removedLocally);
  list("changed", result.changed);
  list("needs audit (stat cannot tell)", result.needsAudit);
  list(
    "skipped",
    result.skipped.map((s) => `${s.name} (${s.reason})`),
  );
  return lines.length > 0 && result.outcome === "scanned" ? [`${result.name}:`, ...lines] : [];
}
