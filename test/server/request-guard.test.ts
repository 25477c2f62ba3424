import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServer } from "../../src/server.ts";
import { cli } from "../helpers/cli.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP request with any headers, Host included (fetch will not forge a Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const actor = planActors(2)[0]!;
const image = actor.images[0]!;
const rateBad = JSON.stringify({
  query: `mutation { rateImage(name: "${actor.name}", filename: "${image.filename}", rating: BAD) { __typename } }`,
});

const worlds: ApiWorld[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  for (const w of worlds.splice(0)) w.dispose();
});

async function serving(env: Record<string, string> = {}) {
  const world = makeApiWorld({ env: { PORT: "0", ...env } });
  worlds.push(world);
  insertActors(world.ctx.db, planActors(2));
  const server = await startServer(world.ctx);
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  const good = () => world.ctx.db.$client.prepare("SELECT good FROM images WHERE filename = ?").pluck().get(image.filename);
  return { world, port, own: `http://127.0.0.1:${port}`, good };
}

const json = { "content-type": "application/json", accept: "application/json" };

describe("origins and hosts (SPEC.md §9)", () => {
  it("refuses a foreign origin's preflight and request, grants no CORS, and changes nothing", async () => {
    const { port, good } = await serving();
    const before = good();
    const preflight = await raw(port, "OPTIONS", "/graphql", {
      origin: "http://evil.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    expect(preflight.headers["access-control-allow-credentials"]).toBeUndefined();

    for (const origin of ["http://evil.example", "null", `http://localhost.evil.example:${port}`]) {
      const attack = await raw(port, "POST", "/graphql", { ...json, origin }, rateBad);
      expect(attack.status, origin).toBe(403);
      expect(attack.headers["access-control-allow-origin"]).toBeUndefined();
      expect(attack.body).not.toContain("rateImage");
    }
    // A form post (text/plain, no preflight) from another site.
    const form = await raw(
      port,
      "POST",
      "/graphql",
      { "content-type": "text/plain", origin: "http://evil.example", "sec-fetch-site": "cross-site" },
      rateBad,
    );
    expect(form.status).toBe(403);
    expect(good()).toBe(before);
  });

  it("refuses a forged Host (DNS rebinding) and answers the service's own names", async () => {
    const { port, good } = await serving();
    const before = good();
    const rebound = await raw(
      port,
      "POST",
      "/graphql",
      { ...json, host: `rebind.attacker.example:${port}`, origin: `http://rebind.attacker.example:${port}` },
      rateBad,
    );
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatch(/rebind\.attacker\.example is not one of this service's names/);
    const page = await raw(port, "GET", "/graphql", { host: `rebind.attacker.example:${port}`, accept: "text/html" });
    expect(page.status).toBe(403);
    expect(page.body).not.toContain("GraphiQL");
    expect(good()).toBe(before);

    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const read = await raw(
        port,
        "POST",
        "/graphql",
        { ...json, host, origin: `http://${host}` },
        JSON.stringify({ query: "{ stats { __typename } }" }),
      );
      expect(read.status, host).toBe(200);
    }
  });

  it("runs a mutation sent from its own origin (GraphiQL's case)", async () => {
    const { port, own, good } = await serving();
    const response = await raw(port, "POST", "/graphql", { ...json, origin: own, "sec-fetch-site": "same-origin" }, rateBad);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).data.rateImage.__typename).toBe("ImageOperationPayload");
    expect(good()).toBe(0);
  });

  it("grants CORS to the origins of CORS_ORIGINS only", async () => {
    const { port } = await serving({ CORS_ORIGINS: "http://curator.example:8080/, https://tools.example" });
    const preflight = await raw(port, "OPTIONS", "/graphql", {
      origin: "http://curator.example:8080",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("http://curator.example:8080");
    const read = await raw(
      port,
      "POST",
      "/graphql",
      { ...json, origin: "https://tools.example" },
      JSON.stringify({ query: "{ stats { __typename } }" }),
    );
    expect(read.status).toBe(200);
    expect(read.headers["access-control-allow-origin"]).toBe("https://tools.example");
    const other = await raw(
      port,
      "POST",
      "/graphql",
      { ...json, origin: "http://curator.example:9090" },
      JSON.stringify({ query: "{ stats { __typename } }" }),
    );
    expect(other.status).toBe(403);
  });

  it("refuses another site's embedding (no Origin, Sec-Fetch-Site cross-site) but lets a link open GraphiQL", async () => {
    const { port } = await serving();
    const embedded = await raw(port, "GET", "/graphiql-assets/graphiql.min.css", {
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "no-cors",
    });
    expect(embedded.status).toBe(403);
    const link = await raw(port, "GET", "/graphql", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", accept: "text/html" });
    expect(link.status).toBe(200);
    expect(link.body).toContain("graphiql");
  });

  it("off loopback, subscriptions need the token as mutations do", async () => {
    const world = makeApiWorld({ env: { HOST: "0.0.0.0", API_TOKEN: "s3cret-token" } });
    worlds.push(world);
    const subscribe = (headers: Record<string, string>) =>
      world.api.fetch("http://127.0.0.1/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
        body: JSON.stringify({ query: `subscription { actorChanged { name } }` }),
      });
    const refused = await subscribe({});
    const text = await refused.text();
    expect(text).toContain("UNAUTHENTICATED");
    const abort = new AbortController();
    const allowed = await world.api.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: "Bearer s3cret-token" },
      body: JSON.stringify({ query: `subscription { actorChanged { name } }` }),
      signal: abort.signal,
    });
    expect(allowed.status).toBe(200);
    abort.abort();
  });
});

describe("serve off loopback without a token", () => {
  it("refuses before writing anything into the data directory", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "am-refuse-"));
    try {
      const run = await cli(["serve", "--port", "0"], { DATA_DIR: dataDir, HOST: "0.0.0.0", S3_EMBEDDED: "false", HOME: dataDir });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without API_TOKEN/);
      expect(readdirSync(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, "actor-manifests.db"))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
