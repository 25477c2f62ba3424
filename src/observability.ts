import { HeadBucketCommand } from "@aws-sdk/client-s3";
import type { Plugin } from "graphql-yoga";
import { useReadinessCheck } from "graphql-yoga";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AppContext } from "./context.ts";
import { totalFigures } from "./db/stats-queries.ts";
import { pingStore } from "./db/store.ts";

/**
 * What an operator watches (SPEC.md §9), as Hasura and most services expose it: a log line per
 * request, `/ready` (SQLite and S3 answer; yoga's `/health` says the process is alive) and
 * `/metrics` in Prometheus text.
 */
export function useObservability(app: AppContext): Plugin[] {
  return [useRequestLog(app), useReadiness(app), useMetrics(app)];
}

const startedAt = new WeakMap<Request, number>();

/** One line per request, with what an operator greps for: method, path, status, time, request id. */
function useRequestLog(app: AppContext): Plugin {
  return {
    onRequest({ request }) {
      startedAt.set(request, performance.now());
    },
    onResponse({ request, response }) {
      const began = startedAt.get(request);
      const url = new URL(request.url);
      app.logger.info(`${request.method} ${url.pathname} ${response.status}`, {
        method: request.method,
        path: url.pathname,
        status: response.status,
        ms: began === undefined ? null : Math.round((performance.now() - began) * 10) / 10,
        requestId: response.headers.get("x-request-id"),
      });
    },
  };
}

const readinessTimeoutMs = 2_000;

/** `/ready`: 200 when SQLite answers and S3 (when connected) answers HeadBucket within 2 s, else 503; the body says which. */
function useReadiness(app: AppContext): Plugin {
  return useReadinessCheck({
    endpoint: "/ready",
    check: async ({ fetchAPI }) => {
      const checks: Record<string, string> = {};
      try {
        pingStore(app.db);
        checks.sqlite = "ok";
      } catch (error) {
        checks.sqlite = `error: ${error instanceof Error ? error.message : String(error)}`;
      }
      if (!app.s3) checks.s3 = "not connected (reads only)";
      else {
        try {
          await app.s3.client.send(new HeadBucketCommand({ Bucket: app.s3.s3Config.bucket }), {
            abortSignal: AbortSignal.timeout(readinessTimeoutMs),
          });
          checks.s3 = "ok";
        } catch (error) {
          checks.s3 = `error: ${error instanceof Error ? error.name : String(error)}`;
        }
      }
      const ready = Object.values(checks).every((value) => !value.startsWith("error"));
      return new fetchAPI.Response(JSON.stringify({ ready, ...checks }), {
        status: ready ? 200 : 503,
        headers: { "content-type": "application/json" },
      });
    },
  });
}

/** `/metrics`: process figures, requests by route and status with their time, running jobs, and images by sync status. */
function useMetrics(app: AppContext): Plugin {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "actor_manifests_" });
  const requests = new Counter({
    name: "actor_manifests_http_requests_total",
    help: "HTTP requests answered, by method, path and status.",
    labelNames: ["method", "path", "status"],
    registers: [registry],
  });
  const durations = new Histogram({
    name: "actor_manifests_http_request_duration_seconds",
    help: "Time to answer an HTTP request (for server-sent events, to the first byte).",
    labelNames: ["method", "path"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: "actor_manifests_jobs_running",
    help: "Jobs (scan, audit, sync, …) running in this process.",
    registers: [registry],
    collect() {
      this.set(app.jobs?.runningCount ?? 0);
    },
  });
  new Gauge({
    name: "actor_manifests_images",
    help: "Training images by last known sync status (the totals `stats` reads, kept as rows change).",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const totals = await totalFigures(app.db, {});
      this.set({ status: "synced" }, totals.syncedCount);
      this.set({ status: "local_only" }, totals.localOnlyCount);
      this.set({ status: "s3_only" }, totals.s3OnlyCount);
      this.set({ status: "out_of_sync" }, totals.outOfSyncCount);
      this.set({ status: "missing" }, totals.missingCount);
      this.set({ status: "unchecked" }, totals.uncheckedCount);
    },
  });
  // Known paths only, so that a scan of random URLs cannot grow the label set.
  const knownPath = (path: string) => (["/graphql", "/ready", "/metrics", "/health"].includes(path) ? path : "other");
  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (url.pathname !== "/metrics" || request.method !== "GET") return;
      endResponse(new fetchAPI.Response(await registry.metrics(), { headers: { "content-type": registry.contentType } }));
    },
    onResponse({ request, response }) {
      const path = knownPath(new URL(request.url).pathname);
      requests.inc({ method: request.method, path, status: String(response.status) });
      const began = startedAt.get(request);
      if (began !== undefined) durations.observe({ method: request.method, path }, (performance.now() - began) / 1000);
    },
  };
}
