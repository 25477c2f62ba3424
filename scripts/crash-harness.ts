/**
 * The kill -9 harness at full size (issue 10): `npx tsx scripts/crash-harness.ts [kills] [actors] [imagesPerActor]`
 * kills `sync --all` of the real CLI at random instants and re-runs it to convergence each time;
 * prints the figures (kills, re-runs, files lost) and exits 1 when anything was lost or left.
 * Build the CLI first (`npm run build` / `npx tsc -p tsconfig.build.json`).
 */
import { runSyncCrashHarness } from "../test/helpers/crash-harness.ts";
import { startTestS3Server } from "../test/helpers/s3-server.ts";

const [kills = 20, actors = 8, imagesPerActor = 30] = process.argv.slice(2).map(Number);
const server = await startTestS3Server();
try {
  const started = performance.now();
  const figures = await runSyncCrashHarness({
    server,
    actors,
    imagesPerActor,
    imageBytes: 40_000,
    kills,
    killWithinMs: 4_000,
    seed: Number(process.env.HARNESS_SEED ?? 10),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify({ operation: "sync --all", actors, imagesPerActor, ...figures, seconds: Math.round((performance.now() - started) / 1000) }, null, 2));
  process.exitCode = figures.filesLost > 0 || figures.problems.length > 0 ? 1 : 0;
} finally {
  await server.stop();
}
