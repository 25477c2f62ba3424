/**
 * The kill -9 harness at full size (issue 10): `npx tsx scripts/crash-harness.ts [kills] [actors] [imagesPerActor] [command…]`
 * kills each command of the real CLI (default all: sync, export, rate, delete, add, prune-local) at
 * random instants and re-runs it to convergence each time; prints the figures (kills, re-runs,
 * files lost) per command and exits 1 when anything was lost or left.
 * Build the CLI first (`npm run build` / `npx tsc -p tsconfig.build.json`).
 */
import { crashCommands, runCrashHarness, type CrashCommand } from "../test/helpers/crash-harness.ts";
import { startTestS3Server } from "../test/helpers/s3-server.ts";

const [killsArg, actorsArg, imagesArg, ...named] = process.argv.slice(2);
const [kills, actors, imagesPerActor] = [Number(killsArg ?? 20), Number(actorsArg ?? 8), Number(imagesArg ?? 30)];
const commands = named.length > 0 ? (named as CrashCommand[]) : [...crashCommands];
const unknown = commands.filter((command) => !crashCommands.includes(command));
if (unknown.length > 0) throw new Error(`unknown command ${unknown.join(", ")}: choose from ${crashCommands.join(", ")}`);
const server = await startTestS3Server();
let failed = false;
try {
  for (const command of commands) {
    const started = performance.now();
    const figures = await runCrashHarness(command, {
      server,
      actors,
      imagesPerActor,
      imageBytes: 40_000,
      kills,
      killWithinMs: 4_000,
      seed: Number(process.env.HARNESS_SEED ?? 10),
      log: (line) => console.error(line),
    });
    console.log(JSON.stringify({ actors, imagesPerActor, ...figures, seconds: Math.round((performance.now() - started) / 1000) }));
    failed ||= figures.filesLost > 0 || figures.problems.length > 0;
  }
} finally {
  await server.stop();
}
process.exitCode = failed ? 1 : 0;
