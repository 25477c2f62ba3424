import type { Command } from "commander";
import { progressBar, printResult, runWithContext, withCommonOptions, type CommonFlags } from "./common.ts";

export function registerImportCommands(program: Command): void {
  withCommonOptions(program.command("import"))
    .description("read every manifest under the data directory into SQLite (unchanged files are skipped)")
    .option("--force", "re-read files even when size and mtime are unchanged")
    .action((flags: CommonFlags & { force?: boolean }) =>
      runWithContext(flags, async (ctx) => {
        // Loaded when the command runs, never for `--help`.
        const [{ importManifests }, { runAsJob }] = await Promise.all([import("../../src/sync/import.ts"), import("../../src/sync/cli-jobs.ts")]);
        const bar = progressBar("import", flags.json);
        const started = performance.now();
        const report = await runAsJob(ctx, "import", { force: flags.force === true }, {}, () => importManifests(ctx, { force: flags.force, onProgress: bar.update }));
        bar.stop();
        const seconds = (performance.now() - started) / 1000;
        printResult(flags.json, report, () => [
          `imported ${report.actorsImported} actors (${report.imagesImported} images) from ${report.filesRead} files in ${seconds.toFixed(2)} s; ${report.actorsUnchanged} unchanged`,
          ...report.problems.map((p) => `problem: ${p.file}: ${p.jsonPath}: ${p.reason}`),
        ]);
        return report.problems.length > 0 ? 1 : 0;
      }),
    );

  withCommonOptions(program.command("export"))
    .description("write the manifests of actors changed in SQLite (format A always, format B where present)")
    .option("--actor-id <id...>", "only these actor row ids")
    .option("--force", "render every actor, not only changed ones (unchanged files are still not rewritten)")
    .option("--rebuild", "replace files with problems (left alone otherwise) from SQLite, keeping the old bytes beside each as {file}.bak")
    .action((flags: CommonFlags & { force?: boolean; rebuild?: boolean; actorId?: string[] }) =>
      runWithContext(flags, async (ctx) => {
        const [{ exportManifests }, { runAsJob }] = await Promise.all([import("../../src/sync/export.ts"), import("../../src/sync/cli-jobs.ts")]);
        const options = { force: flags.force, rebuild: flags.rebuild, actorIds: flags.actorId?.map(Number) };
        const report = await runAsJob(ctx, "export", options, {}, () => exportManifests(ctx, options));
        printResult(flags.json, report, () => [
          `exported ${report.actorsExported} actors, wrote ${report.filesWritten.length} files; ${report.actorsSkipped} skipped`,
          ...report.problems.map((p) => `problem: ${p.reason}`),
          ...report.leftAlone.map((p) => `left alone: ${p.file}: ${p.reason} (--rebuild replaces it, keeping a .bak)`),
          ...report.backups.map((path) => `old bytes kept in ${path}`),
        ]);
        return report.problems.length > 0 ? 1 : 0;
      }),
    );
}
