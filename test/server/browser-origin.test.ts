import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/server.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";
import { launchChromium, runBrowserTests } from "../helpers/chromium.ts";

const actor = planActors(2)[0]!;
const image = actor.images[0]!;
const mutation = `mutation { rateImage(name: "${actor.name}", filename: "${image.filename}", rating: BAD) { __typename } }`;

/** What a page of another origin tries against the API with the curator's browser. */
const attackPage = (api: string) => `<!doctype html><html><body><script>
const api = ${JSON.stringify(api)};
const body = JSON.stringify({ query: ${JSON.stringify(mutation)} });
async function attempt(name, run) {
  try { return name + ": " + (await run()); } catch (error) { return name + ": failed " + error.name; }
}
window.attacks = Promise.all([
  attempt("json", async () => (await fetch(api + "/graphql", { method: "POST", headers: { "content-type": "application/json" }, body })).status),
  attempt("credentials", async () => (await fetch(api + "/graphql", { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body })).status),
  attempt("no-cors form", async () => (await fetch(api + "/graphql", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body })).type),
  attempt("read", async () => (await fetch(api + "/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ stats { __typename } }" }) })).status),
]);
</script></body></html>`;

describe.runIf(runBrowserTests)("a page of another origin in the curator's browser", () => {
  let world: ApiWorld;
  let apiServer: Server;
  let pageServer: Server;
  let browser: Browser;
  let api: string;
  let elsewhere: string;
  const refusedRequests: string[] = [];

  beforeAll(async () => {
    world = makeApiWorld({ env: { PORT: "0" } });
    insertActors(world.ctx.db, planActors(2));
    apiServer = await startServer(world.ctx);
    api = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;
    pageServer = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end(attackPage(api));
    });
    await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
    // Another port of the same loopback address is another origin (and the same site).
    elsewhere = `http://localhost:${(pageServer.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
    await new Promise((resolve) => apiServer?.close(resolve));
    world?.dispose();
  });

  it("cannot run a mutation or read an answer, and nothing changes", async () => {
    const good = () => world.ctx.db.$client.prepare("SELECT good FROM images WHERE filename = ?").pluck().get(image.filename);
    const before = good();
    const page = await browser.newPage();
    page.on("response", (response) => {
      if (response.url().startsWith(api)) refusedRequests.push(`${response.request().method()} ${response.status()}`);
    });
    await page.goto(elsewhere);
    const results = await page.evaluate(() => (window as unknown as { attacks: Promise<string[]> }).attacks);
    expect(results).toEqual(["json: failed TypeError", "credentials: failed TypeError", "no-cors form: opaque", "read: failed TypeError"]);
    // The server itself refused each request that reached it (the preflights, and the form post).
    expect(refusedRequests.length).toBeGreaterThan(0);
    expect(refusedRequests.every((line) => line.endsWith(" 403"))).toBe(true);
    expect(good()).toBe(before);
    await page.close();
  });
});
