import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";

const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");

describe("serve stops on SIGTERM (SPEC.md §7)", () => {
  it("ends subscriptions, stops a running sync job at a safe point, records it and exits within 5 s", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "am-stop-"));
    // The demo data set and the embedded S3: a sync of it has real transfers to do.
    const child = spawn(process.execPath, [bin, "serve", "--port", "0"], {
      env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, HOME: dataDir },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
    try {
      const port = await new Promise<number>((resolvePort, reject) => {
        child.stderr!.on("data", (chunk) => {
          log += chunk;
          const match = /GraphiQL on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
          if (match) resolvePort(Number(match[1]));
        });
        void exited.then((code) => reject(new Error(`serve exited with ${code}: ${log}`)));
      });
      const url = `http://127.0.0.1:${port}/graphql`;
      const subscription = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ query: "subscription { actorChanged { name } }" }),
      });
      expect(subscription.status).toBe(200);
      const streamEnded = subscription.text();

      const started = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({
          query: `mutation { startSync(input: { all: true, outOfSync: LOCAL }) { __typename ... on SyncJob { id } } }`,
        }),
      });
      const jobId = Number(((await started.json()) as { data: { startSync: { id: string } } }).data.startSync.id);
      expect(jobId).toBeGreaterThan(0);

      const signalledAt = Date.now();
      child.kill("SIGTERM");
      const code = await exited;
      const stopMs = Date.now() - signalledAt;
      await streamEnded;

      expect(code).toBe(0);
      expect(stopMs).toBeLessThan(5_000);
      expect(log).toMatch(/SIGTERM: stopped serving; 1 running job\(s\)/);
      expect(log).not.toMatch(/TypeError|not open|could not record/);
      // Not on a terminal, the service logs JSON lines: one per request and per job among them.
      const lines = log
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { level: number; time: string; msg: string; jobId?: number; path?: string });
      expect(lines.every((line) => typeof line.level === "number" && !Number.isNaN(Date.parse(line.time)) && line.msg.length > 0)).toBe(
        true,
      );
      expect(lines.filter((line) => line.jobId === jobId).map((line) => line.msg)).toContain(`job ${jobId} (sync) started`);
      expect(lines.some((line) => line.path === "/graphql")).toBe(true);
      const db = new Database(join(dataDir, "actor-manifests.db"), { readonly: true });
      try {
        const job = db.prepare("SELECT state, finished_at AS finishedAt FROM jobs WHERE id = ?").get(jobId) as {
          state: string;
          finishedAt: string | null;
        };
        expect(["succeeded", "interrupted"]).toContain(job.state);
        expect(job.finishedAt).not.toBeNull();
      } finally {
        db.close();
      }
    } finally {
      child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
