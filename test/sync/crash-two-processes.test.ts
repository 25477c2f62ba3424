/**
 * Two processes on one data directory (issue 10, item 1): two CLI `sync --all` started at once
 * never upload the same object twice (the actor lock in SQLite serializes them, and the second
 * finds the first's work done), neither sees SQLITE_BUSY, and together they converge.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { images } from "../../src/db/schema.ts";
import { bytesFor, makeActor } from "../helpers/actors.ts";
import { cli, cliEnv } from "../helpers/cli.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, pendingIntents } from "../helpers/world.ts";

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());

it("two CLI sync --all at once: no object uploaded twice, no SQLITE_BUSY, every image synced", async () => {
  const world = await createWorld({ server });
  const puts = new Map<string, number>();
  const proxy = await startFaultProxy(server.endpoint, (request) => {
    if (request.method === "PUT") {
      const key = request.url.split("?")[0]!;
      puts.set(key, (puts.get(key) ?? 0) + 1);
    }
    return null;
  });
  try {
    for (const name of ["0401_european_30_male", "0402_east_asian_25_female", "0403_african_40_male"]) {
      await makeActor(world, {
        name,
        images: Array.from({ length: 8 }, (_, i) => ({
          content: bytesFor(`${name}/${i}`, 30_000),
          local: true,
          ...(i % 2 === 0 ? { s3: true } : {}),
        })),
      });
    }
    puts.clear();
    const env = { ...cliEnv(world), S3_ENDPOINT: proxy.endpoint };
    const runs = await Promise.all([cli(["sync", "--all"], env), cli(["sync", "--all"], env)]);
    for (const run of runs) {
      expect(run.stderr).not.toMatch(/SQLITE_BUSY|database is locked/);
      expect(run.code, run.stderr).toBe(0);
    }
    expect(puts.size).toBe(12); // the local-only images, once each
    expect([...puts.values()].filter((count) => count > 1)).toEqual([]);
    expect(
      new Set(
        world.db
          .select()
          .from(images)
          .all()
          .map((row) => row.status),
      ),
    ).toEqual(new Set(["synced"]));
    expect(pendingIntents(world)).toEqual([]);
  } finally {
    await proxy.stop();
    await world.close();
  }
}, 120_000);
