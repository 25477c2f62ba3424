import type { Command } from "commander";
import { counted } from "../../src/human-size.ts";
import { firstLines, printResult, progressBar, repeatable, runWithContext, withCommonOptions, type CommonFlags } from "./common.ts";
import { exitCodeOfParts } from "./exit-codes.ts";

export function registerImportCommands(program: Command): void {
  withCommonOptions(program.command("import"))
    .description(
      "read every manifest under the data directory into SQLite (unchanged files are skipped); exits 4 when some files are broken",
    )
    .option("--force", "re-read files even when size and mtime are unchanged")
    .action((flags: CommonFlags & { force?: boolean }) =>
      runWithContext(flags, async (ctx) => {
        // Loaded when the command runs, never for `--help`.
        const [{ importManifests }, { runAsJob }] = await Promise.all([
          import("../../src/sync/manifests/import.ts"),
          import("../../src/sync/jobs/cli-jobs.ts"),
        ]);
        const bar = progressBar("import", flags.json);
        const started = performance.now();
        const report = await runAsJob(ctx, "import", { force: flags.force === true }, {}, () =>
          importManifests(ctx, { force: flags.force, onProgress: bar.update }),
        );
        bar.stop();
        const seconds = (performance.now() - started) / 1000;
        const problems = report.problems.map((p) => ({ ...p, message: `${p.file}: ${p.jsonPath}: ${p.reason}` }));
        printResult(
          flags.json,
          report,
          () => [
            ...firstLines(
              problems.map((p) => `problem: ${p.message}`),
              20,
              "",
            ),
            `imported ${counted(report.actorsImported, "actor")} (${counted(report.imagesImported, "image")}) from ${counted(report.filesRead, "file")} in ${seconds.toFixed(2)} s; ` +
              `left alone: ${report.actorsUnchanged} unchanged since the last import (--force re-reads them)` +
              (problems.length > 0 ? `, ${counted(problems.length, "broken file")} (fix them and import again)` : ""),
          ],
          problems,
        );
        return exitCodeOfParts(report.actorsImported + report.actorsUnchanged, problems.length);
      }),
    );

  withCommonOptions(program.command("export"))
    .description(
      "write the manifests of actors changed in SQLite (format A always, format B where present); exits 4 when some could not be written",
    )
    .option("--actor <name>", "only this actor, name or character id (repeatable); default every changed actor", repeatable, [] as string[])
    .option("--force", "render every actor, not only changed ones (unchanged files are still not rewritten)")
    .option("--rebuild", "replace files with problems (left alone otherwise) from SQLite, keeping the old bytes beside each as {file}.bak")
    .action((flags: CommonFlags & { force?: boolean; rebuild?: boolean; actor: string[] }) =>
      runWithContext(flags, async (ctx) => {
        const [{ exportManifests }, { runAsJob }, { selectActorIds }] = await Promise.all([
          import("../../src/sync/manifests/export.ts"),
          import("../../src/sync/jobs/cli-jobs.ts"),
          import("./actor-selection.ts"),
        ]);
        const options = {
          force: flags.force,
          rebuild: flags.rebuild,
          actorIds: flags.actor.length > 0 ? selectActorIds(ctx, flags) : undefined,
        };
        const report = await runAsJob(ctx, "export", options, {}, () => exportManifests(ctx, options));
        const problems = [
          ...report.problems.map((p) => ({ ...p, message: `${p.file}: ${p.reason}` })),
          ...report.leftAlone.map((p) => ({ ...p, message: `left alone: ${p.file}: ${p.reason} (--rebuild replaces it, keeping a .bak)` })),
        ];
        printResult(
          flags.json,
          report,
          () => [
            ...firstLines(
              problems.map((p) => (p.message.startsWith("left alone") ? p.message : `problem: ${p.message}`)),
              20,
              "",
            ),
            ...firstLines(
              report.backups.map((path) => `old bytes kept in ${path}`),
              20,
              "",
            ),
            `exported ${counted(report.actorsExported, "actor")}, wrote ${counted(report.filesWritten.length, "file")}; ` +
              `left alone: ${report.actorsSkipped} unchanged since the last export (--force renders them)` +
              (report.leftAlone.length > 0 ? `, ${counted(report.leftAlone.length, "file")} with problems (--rebuild replaces them)` : ""),
          ],
          problems,
        );
        return exitCodeOfParts(report.actorsExported, report.problems.length);
      }),
    );
}
