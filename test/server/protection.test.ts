import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makeContext } from "../../src/context.ts";
import { startServer } from "../../src/server.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

const worlds: ApiWorld[] = [];
function world(options: Parameters<typeof makeApiWorld>[0] = {}) {
  const w = makeApiWorld(options);
  worlds.push(w);
  insertActors(w.ctx.db, planActors(3));
  return w;
}
afterEach(() => {
  for (const w of worlds.splice(0)) w.dispose();
});

const mutation = `mutation { exportManifests(names: ["0001_european_20_male"]) { __typename } }`;

describe("protection", () => {
  it("lets mutations through on loopback without a token", async () => {
    const w = world();
    const { body } = await w.graphql(mutation);
    expect(body.errors).toBeUndefined();
  });

  it("off loopback, refuses mutations without the token and accepts them with it; queries stay open", async () => {
    const w = world({ env: { HOST: "0.0.0.0", API_TOKEN: "s3cret-token" } });
    const refused = await w.graphql(mutation);
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const wrong = await w.graphql(mutation, undefined, { authorization: "Bearer guess" });
    expect(wrong.status).toBe(401);
    const allowed = await w.graphql(mutation, undefined, { authorization: "Bearer s3cret-token" });
    expect(allowed.body.errors).toBeUndefined();
    const query = await w.graphql(`{ actors(first: 1) { totalCount } }`);
    expect(query.body.data.actors.totalCount).toBe(3);
  });

  it("refuses to start off loopback without a token", async () => {
    const w = world({ env: { HOST: "0.0.0.0", PORT: "0" } });
    await expect(startServer(w.ctx)).rejects.toThrow(/API_TOKEN/);
  });

  it("limits depth and cost", async () => {
    const w = world();
    let selection = "name";
    for (let level = 0; level < 5; level++) selection = `actor { trainingImages(first: 1) { edges { node { ${selection} } } } }`;
    const deep = await w.graphql(`{ images(first: 1) { edges { node { ${selection} } } } }`);
    expect(deep.body.errors?.[0]?.message).toMatch(/depth/i);
    const costly = await w.graphql(`{ actors(first: 500) { nodes { trainingImages(first: 500) { nodes { filename status good } } } } }`);
    expect(costly.body.errors?.[0]?.message).toMatch(/complexity/i);
  });

  it("rejects a GET query without the CSRF header, answers with it", async () => {
    const w = world();
    const url = `http://127.0.0.1/graphql?query=${encodeURIComponent("{ stats { __typename } }")}`;
    const blocked = await w.api.fetch(url, { headers: { accept: "application/json" } });
    expect(blocked.status).toBe(403);
    const allowed = await w.api.fetch(url, { headers: { accept: "application/json", "x-graphql-yoga-csrf": "1" } });
    expect(allowed.status).toBe(200);
  });

  it("masks unexpected errors and logs them under the request id", async () => {
    const w = world();
    const messages: string[] = [];
    const logger = { info() {}, warn() {}, error: (m: string) => messages.push(m) };
    Object.assign(w.ctx, makeContext(w.ctx.config, w.ctx.db, logger));
    w.ctx.db.$client.exec("DROP TABLE generations");
    const { body, headers } = await w.graphql(`{ actor(characterId: "0001") { generations { type } } }`, undefined, {
      "x-request-id": "req-42",
    });
    expect(body.errors?.[0]?.message).toBe("Unexpected error.");
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: "INTERNAL_SERVER_ERROR", requestId: "req-42" });
    expect(headers.get("x-request-id")).toBe("req-42");
    expect(messages.some((m) => m.includes("req-42") && m.includes("generations"))).toBe(true);
  });

  it("refuses request bodies over the limit, with or without a declared length", async () => {
    const w = world({ env: { PORT: "0" } });
    const server = await startServer(w.ctx, { maxBodyBytes: 10_000 });
    try {
      const { port } = server.address() as AddressInfo;
      const big = JSON.stringify({ query: `{ stats { __typename } }`, variables: { pad: "x".repeat(20_000) } });
      const declared = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big,
      });
      expect(declared.status).toBe(413);
      const chunked = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port,
            path: "/graphql",
            method: "POST",
            headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", (error) =>
          String(error).includes("EPIPE") || String(error).includes("ECONNRESET") ? resolve(413) : reject(error),
        );
        for (let i = 0; i < 4; i++) req.write(big.slice(i * 5_000, (i + 1) * 5_000));
        req.end(big.slice(20_000));
      });
      expect(chunked).toBe(413);
      const small = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ stats { __typename } }" }),
      });
      expect(await small.json()).toEqual({ data: { stats: { __typename: "Stats" } } });

      // Image uploads are multipart: they have a limit of their own, far above a JSON body's.
      const form = new FormData();
      form.append("operations", JSON.stringify({ query: "{ stats { __typename } }" }));
      form.append("map", "{}");
      form.append("padding", new Blob([new Uint8Array(20_000)]), "padding.bin");
      const upload = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "x-graphql-yoga-csrf": "1" },
        body: form,
      });
      expect(upload.status).not.toBe(413);
      expect(await upload.json()).toEqual({ data: { stats: { __typename: "Stats" } } });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
