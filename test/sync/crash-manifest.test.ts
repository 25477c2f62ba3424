/**
 * The CLI recovers from its own crash (issue 10, item 2): a write-through killed with SIGKILL
 * after its manifest's rename and before SQLite recorded the write leaves a pending intent and
 * a manifest holding the service's own content; the next CLI run recognises that write as its
 * own (by the hash recorded before the rename), settles the intent and converges.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bytesFor, makeActor } from "../helpers/actors.ts";
import { cli, cliEnv } from "../helpers/cli.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, imageRowsByFilename, pendingIntents } from "../helpers/world.ts";

const childScript = fileURLToPath(new URL("../helpers/manifest-crash-child.ts", import.meta.url));
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());

describe("a CLI killed between a manifest's rename and its record", () => {
  it("is recovered by the next CLI run, which converges instead of refusing the manifest", async () => {
    const world = await createWorld({ server });
    try {
      const name = "0201_european_30_male";
      const actor = await makeActor(world, {
        name,
        images: [
          { content: bytesFor("a", 3000), local: true, s3: true },
          { content: bytesFor("b", 3000), local: true },
        ],
      });
      const filename = [...actor.contents.keys()][0]!;
      const manifest = world.ctx.layout.formatAPath("0201");
      const before = readFileSync(manifest, "utf8");

      const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
        const child = spawn(process.execPath, ["--import", "tsx", childScript, world.dataDir, name, filename], {
          cwd: projectRoot,
          stdio: "inherit",
        });
        child.once("exit", (_code, killedBy) => resolve(killedBy));
      });
      expect(signal).toBe("SIGKILL");
      expect(readFileSync(manifest, "utf8")).not.toBe(before); // renamed into place, never recorded
      expect(pendingIntents(world)).toHaveLength(1);

      const run = await cli(["sync", "--all"], cliEnv(world));
      expect(run.stderr).not.toContain("changed on disk");
      expect(run.code, run.stderr).toBe(0);
      expect(pendingIntents(world)).toEqual([]);
      const entries = (JSON.parse(readFileSync(manifest, "utf8")) as { training_data: { filename: string; status: string }[] })
        .training_data;
      expect(entries.map((entry) => [entry.filename, entry.status]).sort()).toEqual(
        [...actor.contents.keys()].map((file) => [file, "synced"]).sort(),
      );
      expect(imageRowsByFilename(world).get(filename)?.good).toBe(true);
    } finally {
      await world.close();
    }
  });
});
