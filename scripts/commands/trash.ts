import { type Command, InvalidArgumentError, Option } from "commander";
import type { TrashItemRow } from "../../src/db/schema.ts";
import { humanSize } from "../../src/human-size.ts";
import { counted } from "../../src/human-size.ts";
import { firstLines, printResult, runWithContext, withCommonOptions, withDryRun, type CommonFlags, type Problem } from "./common.ts";
import { exitCodeOfParts, UsageError } from "./exit-codes.ts";

/** `trash list|restore|empty` (SPEC.md §7, losers are kept): what repairs and deletions kept, put back, or deleted for good. */
export function registerTrashCommands(program: Command): void {
  const trash = program
    .command("trash")
    .description("what repairs and deletions kept instead of destroying: list it, restore it, or empty it");
  registerList(trash);
  registerRestore(trash);
  registerEmpty(trash);
}

/** The operations behind these commands, loaded when one runs (SPEC.md §9: a CLI starts at once). */
async function loadTrash() {
  const [items, restore, common, jobs, context, s3] = await Promise.all([
    import("../../src/db/trash-items.ts"),
    import("../../src/sync/operations/trash-restore.ts"),
    import("../../src/sync/operations/operation-common.ts"),
    import("../../src/sync/jobs/jobs.ts"),
    import("../../src/context.ts"),
    import("./with-s3.ts"),
  ]);
  return {
    ...items,
    ...restore,
    resolveActor: common.resolveActor,
    JobRunner: jobs.JobRunner,
    silentLogger: context.silentLogger,
    withS3: s3.withS3,
  };
}

/** An item with the GraphQL API's field names (`TrashItem`), for --json. */
function itemView(item: TrashItemRow) {
  const { sizeBytes, state: _state, actorId: _actorId, ...rest } = item;
  return { ...rest, bytes: sizeBytes };
}

function describeItem(item: TrashItemRow): string {
  const kept = item.trashLocation ?? `version ${item.versionId}`;
  return `${item.id}\t${item.trashedAt}\t${item.origin}\t${item.side}\t${humanSize(item.sizeBytes)}\t${item.md5 ?? "-"}\t${item.originalLocation}\t${kept}`;
}

interface ListFlags extends CommonFlags {
  actor?: string;
  side?: "local" | "s3";
}

function registerList(trash: Command): void {
  withCommonOptions(trash.command("list"))
    .description("list what the trash keeps, oldest first: id, time, origin, side, size, MD5, where it came from and where it is kept")
    .option("--actor <name>", "only this actor's items (name or character id)")
    .addOption(new Option("--side <side>", "only local files or only S3 objects").choices(["local", "s3"]))
    .action((flags: ListFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadTrash();
        const filter = { actorId: flags.actor ? ops.resolveActor(ctx, flags.actor).id : undefined, side: flags.side };
        const items = ops.trashItemsWhere(ctx.db, filter);
        const totals = ops.trashTotals(ctx.db, filter);
        printResult(flags.json, { items: items.map(itemView), totalCount: totals.count, totalBytes: totals.bytes }, () => [
          ...firstLines(items.map(describeItem), 50, ""),
          `${counted(totals.count, "item", totals.bytes)} in the trash`,
        ]);
        return 0;
      }),
    );
}

interface RestoreFlags extends CommonFlags {
  overwrite?: boolean;
}

function registerRestore(trash: Command): void {
  withCommonOptions(trash.command("restore"))
    .description(
      "put trashed items back where they came from (S3, disk, then the actor's rows and manifests); refused when something is there now",
    )
    .argument("<ids...>", "trash item ids (trash list shows them)")
    .option("--overwrite", "move whatever is in an item's place now to the trash, and put the item back")
    .action((ids: string[], flags: RestoreFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadTrash();
        const itemIds = ids.map(itemId);
        const report = await ops.withS3(ctx, (s3) => ops.restoreTrash(ctx, s3, { ids: itemIds, overwrite: flags.overwrite }));
        // Through the shared log, a running server's actorChanged subscribers hear of it.
        const changes = new ops.JobRunner(ctx, { logger: ops.silentLogger });
        for (const name of report.actors) changes.actorChanged({ actorId: null, name, reason: "restore_trash", jobId: null });
        const problems = failures(report.failed);
        printResult(
          flags.json,
          { restored: report.restored.map(itemView), actors: report.actors },
          () => [
            ...firstLines(
              report.restored.map((item) => `restored ${item.originalLocation}`),
              20,
              "",
            ),
            ...problems.map((problem) => problem.message),
            `restored ${report.restored.length} of ${counted(ids.length, "item")}`,
          ],
          problems,
        );
        return exitCodeOfParts(report.restored.length, report.failed.length);
      }),
    );
}

interface EmptyFlags extends CommonFlags {
  olderThan?: Date;
  all?: boolean;
  dryRun?: boolean;
}

function registerEmpty(trash: Command): void {
  withDryRun(withCommonOptions(trash.command("empty")), "list what would be deleted, with bytes, and delete nothing")
    .description("delete trashed items for good: by id, --older-than, or --all")
    .argument("[ids...]", "trash item ids")
    .addOption(
      new Option("--older-than <age>", "items trashed before this: an age (30d, 12h, 45m) or an ISO 8601 time").argParser(pointInTime),
    )
    .option("--all", "every item")
    .action((ids: string[], flags: EmptyFlags) =>
      runWithContext(flags, async (ctx) => {
        const ops = await loadTrash();
        const options = {
          ids: ids.length > 0 ? ids.map(itemId) : undefined,
          olderThan: flags.olderThan,
          all: flags.all,
          dryRun: flags.dryRun,
        };
        // S3 only when an S3 object is among what goes: emptying local files needs no connection.
        const needsS3 = ops.trashTotals(ctx.db, { side: "s3" }).count > 0;
        const report = needsS3 ? await ops.withS3(ctx, (s3) => ops.emptyTrash(ctx, s3, options)) : await ops.emptyTrash(ctx, null, options);
        const problems = failures(report.failed);
        printResult(
          flags.json,
          { dryRun: report.dryRun, emptied: report.emptied.map(itemView), bytes: report.bytes },
          () => [
            ...(report.dryRun ? firstLines(report.emptied.map(describeItem), 50, "") : []),
            ...problems.map((problem) => problem.message),
            `${report.dryRun ? "dry run, nothing changed: would delete" : "deleted"} ${counted(report.emptied.length, "item", report.bytes)} for good`,
          ],
          problems,
        );
        return report.dryRun ? 0 : exitCodeOfParts(report.emptied.length, report.failed.length);
      }),
    );
}

/** Items that stay in the trash, and why, as the envelope's problems. */
function failures(failed: { item: TrashItemRow; error: string }[]): Problem[] {
  return failed.map((f) => ({
    message: `${f.item.id} ${f.item.trashLocation ?? f.item.originalLocation}: ${f.error}`,
    id: f.item.id,
    actorName: f.item.actorName,
    filename: f.item.filename,
  }));
}

function itemId(value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0) throw new UsageError(`not a trash item id: ${JSON.stringify(value)} (trash list shows them)`);
  return id;
}

const units: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `45m` ago, or an ISO 8601 time. */
function pointInTime(value: string): Date {
  const age = /^(\d+)([mhd])$/.exec(value);
  const time = age ? new Date(Date.now() - Number(age[1]) * units[age[2]!]!) : new Date(value);
  if (Number.isNaN(time.getTime()))
    throw new InvalidArgumentError(`${JSON.stringify(value)} is neither an age (30d, 12h, 45m) nor an ISO 8601 time`);
  return time;
}
