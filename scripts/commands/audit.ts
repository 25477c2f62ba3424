import type { Command } from "commander";
import type { ActorAuditResult, AuditReport } from "../../src/sync/checks/audit.ts";
import { humanSize } from "../../src/human-size.ts";
import { counted } from "../../src/human-size.ts";
import { listed, progressBar, printResult, runWithContext, withActorSelection, withCommonOptions, type CommonFlags } from "./common.ts";
import { exitCodeOfParts, exitCodes } from "./exit-codes.ts";
import { statusTable } from "./status-table.ts";

interface AuditFlags extends CommonFlags {
  actor?: string[];
  all?: boolean;
  allowSuspect?: boolean;
  list?: boolean;
}

export function registerAuditCommand(program: Command): void {
  withActorSelection(withCommonOptions(program.command("audit")))
    .description(
      "verify content: MD5 of each local file (through the hash cache, in worker threads) against the S3 content MD5, and record each image's status; " +
        "exits 3 when some image is not synced, 4 when some actors failed",
    )
    .option(
      "--allow-suspect",
      "audit even when a listing is empty or would take more than MAX_REMOVE_SHARE of an actor's images off a side",
    )
    .option(
      "--list",
      "list S3 first; by default the S3 side (ETag, size) is taken as the last scan, sync or `audit --list` recorded it (actors never listed are listed)",
    )
    .action((flags: AuditFlags) =>
      runWithContext(flags, async (ctx) => {
        // Loaded when the command runs, never for `--help`.
        const [{ reportedAudit }, { runAsJob }, { allActorIds }, { selectActorIds }, { withS3 }] = await Promise.all([
          import("../../src/sync/jobs/job-work.ts"),
          import("../../src/sync/jobs/cli-jobs.ts"),
          import("../../src/db/scan-writes.ts"),
          import("./actor-selection.ts"),
          import("./with-s3.ts"),
        ]);
        const actorIds = selectActorIds(ctx, flags);
        // Every actor in the store: one listing of the whole prefix instead of one per actor.
        const everyActor = flags.all === true || actorIds.length === allActorIds(ctx.db).length;
        // Connects S3 and first settles what an interrupted run left (pending intents).
        return withS3(ctx, async (s3) => {
          const bar = progressBar("audit", flags.json);
          const params = {
            all: flags.all === true,
            actors: flags.actor ?? [],
            allowSuspect: flags.allowSuspect === true,
            listS3: flags.list === true,
          };
          const report = await runAsJob(ctx, "audit", params, {}, (job) =>
            reportedAudit(ctx, s3, job, {
              ...(everyActor ? { all: true as const } : { actorIds }),
              allowSuspect: flags.allowSuspect,
              listS3: flags.list === true,
              onProgress: (progress) => bar.update(progress.actorsDone, progress.actorsTotal),
            }),
          );
          bar.stop();
          const problems = report.actors
            .filter((actor) => !actor.ok || actor.exportProblems.length > 0)
            .map((actor) => ({
              actor: actor.name,
              message: actor.ok
                ? `manifest not written: ${actor.name}: ${actor.exportProblems.map((p) => p.reason).join("; ")}`
                : `failed: ${actor.name}: ${actor.error}`,
            }));
          printResult(flags.json, report, () => summarize(report), problems);
          const differences = report.counts.local_only + report.counts.s3_only + report.counts.out_of_sync + report.counts.missing;
          if (problems.length > 0) return exitCodeOfParts(report.actors.length - problems.length, problems.length);
          return differences > 0 ? exitCodes.differencesFound : exitCodes.done;
        });
      }),
    );
}

function summarize(report: AuditReport): string[] {
  const audited = report.actors.length - report.failed;
  return [
    ...report.actors.flatMap(describeActor),
    ...statusTable({ ...report.counts, unchecked: 0 }, report.bytesTotal),
    ...listingAge(report),
    `audited ${audited} of ${counted(report.actors.length, "actor")} in ${report.seconds.toFixed(2)} s: ` +
      `hashed ${counted(report.filesHashed, "file", report.bytesHashed)}${report.filesHashed > 0 ? ` at ${report.hashMBps.toFixed(0)} MB/s` : ""}, ` +
      `left alone: ${counted(report.filesFromCache, "file")} unchanged since hashed (hash cache)` +
      (report.bytesDownloaded > 0 ? `; downloaded ${humanSize(report.bytesDownloaded)} to check multipart objects` : ""),
  ];
}

/** How old the S3 side compared with is, and how many actors were confirmed unchanged: what the statuses rest on. */
function listingAge(report: AuditReport): string[] {
  const audited = report.actors.filter((actor) => actor.ok);
  const fromLastListing = audited.filter((actor) => actor.s3ListedAt !== actor.checkedAt);
  const oldest = fromLastListing.map((actor) => actor.s3ListedAt ?? "").sort()[0];
  const unchanged = audited.filter((actor) => actor.unchanged).length;
  const lines = [];
  if (oldest !== undefined) {
    lines.push(
      `S3 side as last listed for ${counted(fromLastListing.length, "actor")} (oldest listing ${oldest}), listed now for ${audited.length - fromLastListing.length}: ` +
        "`scan` or `audit --list` lists it again.",
    );
  }
  if (unchanged > 0)
    lines.push(
      `${counted(unchanged, "actor")} unchanged since their last audit (same rows, same image files): statuses confirmed without reading them.`,
    );
  return lines;
}

/** Per-actor lines only where something needs attention, so a clean audit of thousands stays short. */
function describeActor(result: ActorAuditResult): string[] {
  if (!result.ok) return [`failed: ${result.name}: ${result.error}`];
  const lines: string[] = [];
  const list = (label: string, names: string[]) => {
    if (names.length > 0) lines.push(`  ${label} (${names.length}): ${listed(names)}`);
  };
  list(
    "status changed",
    result.statusChanges.map((change) => `${change.filename} ${change.from ?? "unchecked"} → ${change.to}`),
  );
  list("untracked locally (run scan to add)", result.untrackedLocal);
  list("untracked in S3 (run scan to add)", result.untrackedS3);
  list("symbolic links (never followed)", result.links);
  list(
    "manifest not written",
    result.exportProblems.map((problem) => problem.reason),
  );
  return lines.length > 0 ? [`${result.name}:`, ...lines] : [];
}
