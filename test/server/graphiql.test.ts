import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/server.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";
import { launchChromium, runBrowserTests } from "../helpers/chromium.ts";

describe.runIf(runBrowserTests)("GraphiQL in headless Chromium, with no network", () => {
  let world: ApiWorld;
  let server: Server;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    world = makeApiWorld({ env: { PORT: "0" } });
    insertActors(world.ctx.db, planActors(8));
    server = await startServer(world.ctx);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    world?.dispose();
  });

  it("loads the page from the service alone and runs the default query", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const elsewhere: string[] = [];
    const failed: string[] = [];
    // Any request that leaves the service is refused, as on a machine without internet.
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(base)) return route.continue();
      elsewhere.push(url);
      return route.abort();
    });
    page.on("requestfailed", (request) => failed.push(request.url()));
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));

    await page.goto(`${base}/graphql`);
    await page.waitForSelector(".graphiql-execute-button", { timeout: 30_000 });
    const answer = page.waitForResponse(
      (response) =>
        response.url().startsWith(`${base}/graphql`) &&
        response.request().method() === "POST" &&
        (response.request().postData() ?? "").includes("actorsBelowGoodCount"),
    );
    await page.click(".graphiql-execute-button");
    const payload = await (await answer).json();
    const busiest = planActors(8).sort((a, b) => b.images.length - a.images.length || a.name.localeCompare(b.name))[0]!;
    expect(payload.data.actor.name).toBe(busiest.name);
    expect(payload.data.actor.trainingImages.nodes.length).toBeGreaterThan(0);
    await page.waitForFunction(() => document.querySelector(".result-window")?.textContent?.includes('"actorCount"'), null, {
      timeout: 30_000,
    });
    const result = (await page.textContent(".result-window")) ?? "";
    expect(result).toContain('"actorCount": 8');
    expect(elsewhere).toEqual([]);
    expect(failed).toEqual([]);
    expect(pageErrors).toEqual([]);
    if (process.env.GRAPHIQL_SCREENSHOT) await page.screenshot({ path: process.env.GRAPHIQL_SCREENSHOT });
    await page.close();
  });
});
