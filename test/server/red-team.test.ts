import { existsSync, readdirSync } from "node:fs";
import { request as httpRequest, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { maxIndexedActors } from "../../src/db/image-queries.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import { maxAliases } from "../../src/schema/query-cost.ts";
import { startServer } from "../../src/server.ts";
import { uploadsDir } from "../../src/uploads.ts";
import { makeActor } from "../helpers/actors.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";
import { createWorld } from "../helpers/world.ts";

/**
 * Attacks on the real server (SPEC.md §9), each found by red-teaming after issue 9's fixes:
 * the request goes over a socket to `startServer`, as an attacker's would.
 */

const worlds: ApiWorld[] = [];
const servers: Server[] = [];
const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolveClose) => server.close(resolveClose));
  for (const w of worlds.splice(0)) w.dispose();
  for (const close of closing.splice(0)) await close();
});

async function serve(actorCount = 3, env: Record<string, string> = {}): Promise<{ world: ApiWorld; port: number }> {
  const world = makeApiWorld({ env: { PORT: "0", ...env } });
  worlds.push(world);
  insertActors(
    world.ctx.db,
    planActors(actorCount, () => 1),
  );
  const server = await startServer(world.ctx);
  servers.push(server);
  return { world, port: (server.address() as AddressInfo).port };
}

/** Sends `text` as is on a socket and returns the status line and the body. */
function rawRequest(port: number, text: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveResponse, reject) => {
    // Written, not ended: a client that half-closes first has its pending request dropped by Node's server (as curl and browsers never do).
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", ...rest] = answer.split("\r\n\r\n");
      resolveResponse({ status: Number(head.split(" ")[1]), body: rest.join("\r\n\r\n") });
    });
  });
}

async function post(port: number, query: string, variables?: Record<string, unknown>) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    body: (await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] },
  };
}

describe("red team: query cost", () => {
  it("costs a long list of actor names in the variables like the table it makes the query read", async () => {
    // Variables carry any number of names at no token cost; each named actor's rows were read in
    // one statement, costed as a page: 15 aliases × 10,000 names held the service 11 s.
    const actorCount = maxIndexedActors * 2;
    const { world, port } = await serve(actorCount);
    world.ctx.db.$client
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO images (actor_id, filename, size_bytes, prompt) SELECT 1 + i % ?, 'bulk_' || i || '.jpg', 1000, 'a prompt' FROM n`,
      )
      .run(200_000, actorCount);
    refreshActorStatistics(
      world.ctx.db,
      Array.from({ length: actorCount }, (_, i) => i + 1),
    );
    const names = planActors(actorCount, () => 1).map((actor) => actor.name);
    const field = (i: number) =>
      `a${i}: images(first: 1, filter: { promptContains: "zz${i}" }, actorFilter: { names: $names }) { nodes { filename } }`;
    const query = (count: number) => `query ($names: [String!]) { ${Array.from({ length: count }, (_, i) => field(i)).join(" ")} }`;

    const many = await post(port, query(maxAliases), { names });
    expect(many.body.data).toBeUndefined();
    expect(many.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX" });

    // One such field is answered, by a scan that takes turns with other requests.
    const one = await post(port, query(1), { names });
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.a0.nodes).toEqual([]);
    // A few names are still a lookup through the index, costed as its page.
    const few = await post(port, query(maxAliases), { names: names.slice(0, 3) });
    expect(few.body.errors).toBeUndefined();
  }, 120_000);
});

describe("red team: errors never show the server's stack", () => {
  const stackLike = /\bat \S+ \(|node_modules|\.ts:\d+/;

  it("answers a GraphiQL asset name of Object's prototype 404, not 500 with a stack", async () => {
    const { port } = await serve();
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const response = await fetch(`http://127.0.0.1:${port}/graphiql-assets/${name}`);
      const text = await response.text();
      expect(response.status, name).toBe(404);
      expect(text).not.toMatch(stackLike);
    }
    expect((await fetch(`http://127.0.0.1:${port}/graphiql-assets/graphiql.min.css`)).status).toBe(200);
  });

  it("refuses a request target or Host that makes no URL (absolute form, `*`, a bad port) with 400 and no stack", async () => {
    const { world, port } = await serve();
    const [actor] = planActors(1, () => 1);
    const mutation = JSON.stringify({
      query: `mutation { rateImage(name: "${actor!.name}", filename: "${actor!.name}_0.jpg", rating: BAD) { __typename } }`,
    });
    const request = (line: string, host: string) =>
      `${line}\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${mutation.length}\r\nConnection: close\r\n\r\n${mutation}`;
    for (const [line, host] of [
      ["POST http://evil.example/graphql HTTP/1.1", `127.0.0.1:${port}`],
      ["OPTIONS * HTTP/1.1", `127.0.0.1:${port}`],
      ["POST /graphql HTTP/1.1", "127.0.0.1:99999"],
      ["POST /graphql HTTP/1.1", "a b"],
    ] as const) {
      const answer = await rawRequest(port, request(line, host));
      expect(answer.status, `${line} / ${host}`).toBe(400);
      expect(answer.body).not.toMatch(stackLike);
    }
    // A user part in Host made the URL's host read as loopback past the DNS-rebinding check.
    const userPart = await rawRequest(port, request("POST /graphql HTTP/1.1", `evil.example@127.0.0.1:${port}`));
    expect(userPart.status).toBe(403);
    const good = world.ctx.db.$client.prepare("SELECT good FROM images WHERE filename = ?").pluck().get(`${actor!.name}_0.jpg`);
    expect(good).not.toBe(0);
    // The service's own requests still work.
    expect((await rawRequest(port, request("POST /graphql HTTP/1.1", `127.0.0.1:${port}`))).status).toBe(200);
  });
});

describe("red team: uploads off loopback", () => {
  it("refuses a multipart body without the token before staging any of it", async () => {
    const { world, port } = await serve(1, { HOST: "0.0.0.0", API_TOKEN: "red-team-token" });
    const boundary = "red-team";
    const [actor] = planActors(1, () => 1);
    const head =
      `--${boundary}\r\ncontent-disposition: form-data; name="operations"\r\n\r\n` +
      JSON.stringify({
        query: `mutation ($file: File!) { addImages(name: "${actor!.name}", images: [{ file: $file }]) { __typename } }`,
        variables: { file: null },
      }) +
      `\r\n--${boundary}\r\ncontent-disposition: form-data; name="map"\r\n\r\n{"0":["variables.file"]}` +
      `\r\n--${boundary}\r\ncontent-disposition: form-data; name="0"; filename="${actor!.name}_9.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`;
    // The body is left open after 4 MiB of the file: the answer must not wait for the rest,
    // and nothing of it may be on disk meanwhile (it was, until the mutation was refused).
    const answer = await new Promise<number>((resolveAnswer, reject) => {
      const req = httpRequest(
        {
          agent: false,
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/graphql",
          headers: {
            "content-type": `multipart/form-data; boundary=${boundary}`,
            "x-graphql-yoga-csrf": "1",
            "transfer-encoding": "chunked",
          },
        },
        (res) => {
          res.resume();
          resolveAnswer(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on("error", () => {});
      req.write(head);
      req.write(Buffer.alloc(4 * 1024 * 1024));
      setTimeout(() => {
        const staged = existsSync(uploadsDir(world.dataDir)) ? readdirSync(uploadsDir(world.dataDir)) : [];
        req.destroy();
        reject(new Error(`no answer while the body is open; staged: ${JSON.stringify(staged)}`));
      }, 3_000);
    });
    expect(answer).toBe(401);
    expect(existsSync(uploadsDir(world.dataDir)) ? readdirSync(uploadsDir(world.dataDir)) : []).toEqual([]);
  });
});

describe("red team: names", () => {
  it("refuses a filename with a control character or a lone surrogate, naming the rule, and writes nothing", async () => {
    // "x\r\n1.jpg" was added and uploaded, then every scan found it LOCAL_ONLY: S3's XML listing
    // gives the key back as "x\n1.jpg". A lone surrogate failed in the S3 client: "Unexpected error.".
    const world = await createWorld({ env: { PORT: "0" } });
    closing.push(() => world.close());
    world.ctx.s3 = world.s3;
    const name = "0001_european_30_male";
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const server = await startServer(world.ctx);
    servers.push(server);
    const port = (server.address() as AddressInfo).port;
    const cases = [
      [`${name}_x\r\n1.jpg`, "control character"],
      [`${name}_x\n1.jpg`, "control character"],
      [`${name}_x\u007f.jpg`, "control character"],
      [`${name}_x\ud800.jpg`, "lone surrogate"],
    ] as const;
    for (const [filename, rule] of cases) {
      const form = new FormData();
      form.set(
        "operations",
        JSON.stringify({
          query: `mutation ($f: File!, $n: String) { addImages(name: "${name}", images: [{ file: $f, filename: $n }]) { __typename ... on InvalidFilenameError { reason } } }`,
          variables: { f: null, n: filename },
        }),
      );
      form.set("map", JSON.stringify({ 0: ["variables.f"] }));
      form.set("0", new Blob(["not really a jpeg"], { type: "image/jpeg" }), "upload.jpg");
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "x-graphql-yoga-csrf": "1" },
        body: form,
      });
      const body = (await response.json()) as { data?: any; errors?: unknown };
      expect(body.errors, JSON.stringify(filename)).toBeUndefined();
      expect(body.data.addImages.__typename, JSON.stringify(filename)).toBe("InvalidFilenameError");
      expect(body.data.addImages.reason).toContain(rule);
    }
    const rows = world.ctx.db.$client.prepare("SELECT count(*) FROM images WHERE filename LIKE ?").pluck().get(`${name}_x%`);
    expect(rows).toBe(0);
    expect(readdirSync(world.ctx.layout.trainingDir(name)).filter((entry) => entry.includes("_x"))).toEqual([]);
  });
});
