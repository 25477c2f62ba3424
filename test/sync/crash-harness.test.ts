/**
 * The kill -9 harness in the suite (issue 10): each command of the real CLI (`sync --all`,
 * `export --force`, `rate`, `delete --from everywhere`, `add`, `prune-local --switch-to-s3-only`)
 * killed at a few random instants on small data, re-run to convergence each time, nothing lost
 * and nothing left over. scripts/crash-harness.ts runs the same at full size with 20+ kills each.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { crashCommands, runCrashHarness } from "../helpers/crash-harness.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());

it("every command killed with SIGKILL at random instants: each re-run converges, no file is lost, nothing is left over", async () => {
  // The commands run side by side, each in a world (data directory and bucket) of its own.
  const all = await Promise.all(
    crashCommands.map((command, i) =>
      runCrashHarness(command, { server, actors: 2, imagesPerActor: 9, imageBytes: 20_000, kills: 2, killWithinMs: 1_500, seed: 7 + i }),
    ),
  );
  for (const figures of all) {
    expect(figures.problems, figures.command).toEqual([]);
    expect(figures.filesLost, figures.command).toBe(0);
  }
  expect(all.reduce((sum, figures) => sum + figures.killedMidway, 0)).toBeGreaterThan(crashCommands.length);
}, 240_000);
