/** The write-through commands on one actor's images: delete, rate and add. */
import { basename } from "node:path";
import { type Command, Option } from "commander";
import { counted } from "../../src/human-size.ts";
import { deleteTargets, type DeleteFrom } from "../../src/sync/operations/deletion-limits.ts";
import type { OperationReport } from "../../src/sync/operations/operation-common.ts";
import { runWithContext, withCommonOptions, withDryRun, type CommonFlags } from "./common.ts";
import { UsageError } from "./exit-codes.ts";
import { loadOperations, maxDeleteOption, printOperation, underDeleteLimit } from "./operation-commands.ts";

interface DeleteFlags extends CommonFlags {
  actor: string;
  allImages?: boolean;
  from: DeleteFrom;
  dryRun?: boolean;
  maxDelete: number;
}

export function registerDelete(program: Command): void {
  withDryRun(
    withCommonOptions(program.command("delete")),
    "print what would be deleted, with bytes, and change nothing (also over --max-delete)",
  )
    .description("delete images of one actor: from the manifest only, or also from S3, local disk, or everywhere; exits 4 when some failed")
    .argument("[filenames...]", "the images to delete (or --all-images)")
    .requiredOption("--actor <name>", "the actor (name or character id)")
    .option("--all-images", "every image of the actor")
    .addOption(
      new Option("--from <where>", "manifest (forget the row only), s3, disk, or everywhere")
        .choices([...deleteTargets])
        .makeOptionMandatory(),
    )
    .addOption(maxDeleteOption())
    .action((filenames: string[], flags: DeleteFlags) =>
      runWithContext(flags, async (ctx) => {
        if (filenames.length > 0 === (flags.allImages === true))
          throw new UsageError("name the images to delete, or give --all-images (not both)");
        const ops = await loadOperations();
        const params = {
          actors: [flags.actor],
          filenames: flags.allImages ? "all" : filenames,
          from: flags.from,
          maxDelete: flags.maxDelete,
        };
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

export function registerRate(program: Command): void {
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
        const report = await ops.runAsJob(
          ctx,
          "rate",
          { actors: [flags.actor], filenames, good },
          { dryRun: flags.dryRun },
          async (job) => {
            const rated = await ops.rateImages(ctx, { actor: flags.actor, filenames, good, dryRun: flags.dryRun });
            ops.reportOperation(job, rated);
            return rated;
          },
        );
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

export function registerAdd(program: Command): void {
  withDryRun(withCommonOptions(program.command("add")), "print what would be uploaded and change nothing")
    .description(
      "add image files to an actor: uploaded verified (x-amz-meta-md5), written locally (mirrored mode), with a prompt and a new generation",
    )
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
        const params = {
          actors: [flags.actor],
          filenames: images.map((image) => image.filename),
          generationType: flags.generationType,
          overwrite: flags.overwrite === true,
        };
        const report = await ops.withS3(ctx, (s3) =>
          ops.runAsJob(ctx, "add", params, { dryRun: flags.dryRun }, async (job) => {
            const added = await ops.addImages(ctx, s3, {
              actor: flags.actor,
              images,
              generationType: flags.generationType,
              overwrite: flags.overwrite,
              dryRun: flags.dryRun,
            });
            ops.reportOperation(job, added);
            return added;
          }),
        );
        const generation = report.generation
          ? [`generation ${report.generation.key} (${report.generation.type}): ${counted(report.generation.imageCount, "image")}`]
          : [];
        return printOperation(flags, report, "added", "would add", generation);
      }),
    );
}
