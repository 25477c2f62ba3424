/**
 * The kill -9 harness in the suite (issue 10): the real CLI's `sync --all` killed at a few random
 * instants on small data, re-run to convergence each time, nothing lost and nothing left over.
 * scripts/crash-harness.ts runs the same at full size with 20+ kills.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { runSyncCrashHarness } from "../helpers/crash-harness.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());

it("sync --all killed with SIGKILL at random instants: every re-run converges and no file is lost", async () => {
  const figures = await runSyncCrashHarness({ server, actors: 2, imagesPerActor: 9, imageBytes: 20_000, kills: 3, killWithinMs: 2_500, seed: 7 });
  expect(figures.problems).toEqual([]);
  expect(figures.filesLost).toBe(0);
  expect(figures.killedMidway).toBeGreaterThan(0);
}, 240_000);
