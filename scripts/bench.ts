/**
 * The project's benchmark (SPEC.md §10), never part of the test suite:
 *   npm run bench               every part
 *   npm run bench -- import     metadata scale: cold import and no-change re-import
 *   npm run bench -- api        metadata scale: open an actor and stats over HTTP, p50/p99
 *   npm run bench -- content    content scale: audit beside md5sum
 *   npm run bench -- sync       content scale: sync to an empty bucket beside aws s3 sync / rclone copy, no-change re-sync and scan
 *   npm run bench -- cli        CLI start: --help beside node -e 0
 * Prints each figure beside its bar and writes them all to bench-results.json.
 * Generated data sets are kept under ./bench-data to be reused by the next run.
 */
import { Command } from "commander";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { runContentBench } from "./bench/content.ts";
import type { BenchFigure } from "./bench/figures.ts";
import { runApiBench } from "./bench/api.ts";
import { runCliStartBench } from "./bench/cli-start.ts";
import { runImportBench } from "./bench/import.ts";
import { runSyncBench } from "./bench/sync.ts";

const parts = ["import", "api", "content", "sync", "cli"] as const;
type Part = (typeof parts)[number];

const program = new Command("bench")
  .argument("[parts...]", `which parts to run: ${parts.join(", ")} (default all)`)
  .option("--dir <dir>", "where generated data sets are kept", "bench-data")
  .option("--out <file>", "JSON file for the figures", "bench-results.json")
  .option("--runs <n>", "runs of each measurement (median reported)", "3")
  .action(async (selected: string[], flags: { dir: string; out: string; runs: string }) => {
    const unknown = selected.filter((part) => !parts.includes(part as Part));
    if (unknown.length > 0) program.error(`unknown part ${unknown.join(", ")}; expected ${parts.join(", ")}`);
    const run = new Set<Part>(selected.length > 0 ? (selected as Part[]) : parts);
    const dir = resolve(flags.dir);
    const runs = Number(flags.runs);
    const figures: BenchFigure[] = [];
    if (run.has("import")) figures.push(...(await runImportBench({ dir, runs })));
    if (run.has("api")) figures.push(...(await runApiBench({ dir })));
    if (run.has("content")) figures.push(...(await runContentBench({ runs })).figures);
    if (run.has("sync")) figures.push(...(await runSyncBench({ runs })));
    if (run.has("cli")) figures.push(...runCliStartBench({ runs }));

    for (const figure of figures) console.log(formatFigure(figure));
    writeFileSync(
      flags.out,
      `${JSON.stringify({ at: new Date().toISOString(), cores: (await import("node:os")).availableParallelism(), figures }, null, 2)}\n`,
    );
    console.log(`figures written to ${flags.out}`);
    process.exitCode = figures.some((figure) => figure.pass === false) ? 1 : 0;
  });

function formatFigure(figure: BenchFigure): string {
  const bar = figure.bar ? `  bar ${figure.bar.op} ${figure.bar.value} ${figure.bar.unit}  ${figure.pass ? "PASS" : "FAIL"}` : "";
  const note = figure.note ? `  (${figure.note})` : "";
  return `${figure.name.padEnd(44)} ${String(figure.value).padStart(12)} ${figure.unit}${bar}${note}`;
}

await program.parseAsync(process.argv);
