import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { median, type BenchFigure } from "./figures.ts";

const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");

/** Wall time of one run of `node args`, in milliseconds. */
function timeRun(args: string[]): number {
  const started = performance.now();
  execFileSync(process.execPath, args, { stdio: "ignore" });
  return performance.now() - started;
}

/**
 * CLI start (SPEC.md §10): `actor-manifests --help` against the floor of `node -e 0`, both
 * measured here, alternately, median of `runs` each. The bar is a ratio: within 3×.
 */
export function runCliStartBench(options: { runs: number }): BenchFigure[] {
  const floor: number[] = [];
  const help: number[] = [];
  timeRun([bin, "--help"]); // warm the file cache
  for (let run = 0; run < Math.max(5, options.runs); run++) {
    floor.push(timeRun(["-e", "0"]));
    help.push(timeRun([bin, "--help"]));
  }
  const floorMs = median(floor);
  const helpMs = median(help);
  const ratio = Math.round((helpMs / floorMs) * 100) / 100;
  return [
    { name: "cli start: node -e 0 (floor)", value: Math.round(floorMs), unit: "ms" },
    { name: "cli start: actor-manifests --help", value: Math.round(helpMs), unit: "ms" },
    { name: "cli start: --help / floor", value: ratio, unit: "×", bar: { op: "<=", value: 3, unit: "×" }, pass: ratio <= 3 },
  ];
}
