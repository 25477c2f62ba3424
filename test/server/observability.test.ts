import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makeContext } from "../../src/context.ts";
import type { Logger } from "../../src/logger.ts";
import { startServer } from "../../src/server.ts";
import { connectS3 } from "../../src/sync/s3/s3-setup.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

const worlds: ApiWorld[] = [];
afterEach(() => {
  for (const w of worlds.splice(0)) w.dispose();
});

function world(logger?: Logger) {
  const w = makeApiWorld({ env: { PORT: "0" } });
  worlds.push(w);
  const fixtures = planActors(4);
  insertActors(w.ctx.db, fixtures);
  if (logger) Object.assign(w.ctx, makeContext(w.ctx.config, w.ctx.db, logger));
  return { w, fixtures };
}

describe("operating it (SPEC.md §9)", () => {
  it("logs one line per request with method, path, status, time and request id", async () => {
    const lines: { message: string; fields?: Record<string, unknown> }[] = [];
    const { w } = world({ info: (message, fields) => lines.push({ message, fields }), warn() {}, error() {} });
    await w.graphql("{ stats { __typename } }", undefined, { "x-request-id": "req-7" });
    expect(lines).toContainEqual({
      message: "POST /graphql 200",
      fields: { method: "POST", path: "/graphql", status: 200, ms: expect.any(Number), requestId: "req-7" },
    });
  });

  it("answers /ready from SQLite and S3, 503 when S3 does not answer", async () => {
    const { w } = world();
    const ready = await w.api.fetch("http://127.0.0.1/ready");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, sqlite: "ok", s3: "not connected (reads only)" });

    // An S3 endpoint where nothing listens.
    const config = { ...w.ctx.config, s3: { ...w.ctx.config.s3, endpoint: "http://127.0.0.1:9" } };
    const s3 = await connectS3(config, { env: { AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" } });
    try {
      Object.assign(w.ctx, { s3 });
      const down = await w.api.fetch("http://127.0.0.1/ready");
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ ready: false, sqlite: "ok", s3: expect.stringMatching(/^error: /) });
    } finally {
      await s3.stop();
    }
  });

  it("serves Prometheus metrics: requests by path and status, and images by sync status", async () => {
    const { w, fixtures } = world();
    const server = await startServer(w.ctx);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await fetch(`${base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ stats { __typename } }" }),
      });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/actor_manifests_http_requests_total\{method="POST",path="\/graphql",status="200"\} 1/);
      const synced = fixtures.flatMap((actor) => actor.images).filter((image) => image.status === "synced").length;
      expect(metrics).toContain(`actor_manifests_images{status="synced"} ${synced}`);
      expect(metrics).toContain("actor_manifests_jobs_running 0");
      expect(metrics).toMatch(/actor_manifests_process_resident_memory_bytes \d+/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
