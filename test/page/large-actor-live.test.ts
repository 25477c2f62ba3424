import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/server.ts";
import { makeJpeg } from "../../src/demo/image-bytes.ts";
import { JobRunner } from "../../src/sync/jobs/jobs.ts";
import { type FixtureActor, makeActor } from "../helpers/actors.ts";
import { confinedPage, launchChromium, runBrowserTests } from "../helpers/chromium.ts";
import { createWorld, type World } from "../helpers/world.ts";

const large = "0001_european_30_male";
const small = "0002_east_asian_25_female";
const imageCount = 1000;
/** Where screenshots go when asked (PAGE_SCREENSHOTS=folder). */
const screenshots = process.env.PAGE_SCREENSHOTS;

/**
 * The page on an actor of 1,000 images (a virtualized grid fed page by page), and following
 * changes made elsewhere (a GraphQL request of another client, a sync job) without a reload.
 */
describe.runIf(runBrowserTests)("the Training Data page with 1,000 images and changes made elsewhere", () => {
  let world: World;
  let server: Server;
  let browser: Browser;
  let page: Page;
  let base: string;
  let largeActor: FixtureActor;
  let smallActor: FixtureActor;
  let elsewhere: string[];
  let consoleErrors: string[];

  /** A GraphQL request of another client (a script, another tab): not the page's. */
  const graphql = async (query: string) => {
    const response = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { data?: Record<string, { __typename?: string }>; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data!;
  };
  const ratedCount = (actorId: number, good: number) =>
    world.db.$client.prepare("SELECT count(*) FROM images WHERE actor_id = ? AND good = ?").pluck().get(actorId, good);
  const tilesInDom = () => page.locator(".tile").count();
  const chip = (label: string) => page.locator(".toolbar .chip", { hasText: label }).locator("strong");

  beforeAll(async () => {
    world = await createWorld({ env: { PORT: "0" } });
    world.ctx.s3 = world.s3;
    world.ctx.jobs = new JobRunner(world.ctx);
    // Small real JPEGs (48×64), 40 different ones over the 1,000 files: encoding 1,000 would take seconds.
    const looks = Array.from({ length: 40 }, (_, i) => makeJpeg(`${large}/${i}`, { width: 48, height: 64 }));
    const images = Array.from({ length: imageCount }, (_, i) => ({
      filename: `${large}_${i}.jpg`,
      content: looks[i % looks.length],
      local: true,
    }));
    largeActor = await makeActor(world, { name: large, images });
    smallActor = await makeActor(world, {
      name: small,
      images: [0, 1, 2].map((i) => ({ content: makeJpeg(`${small}/${i}`, { width: 48, height: 64 }), local: true })),
    });
    server = await startServer(world.ctx);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    ({ page, elsewhere, consoleErrors } = await confinedPage(browser, base));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await world?.ctx.jobs?.shutdown(1000);
    await new Promise((resolve) => server?.close(resolve));
    await world?.close();
  });

  it("keeps only the rows on screen in the DOM, and scrolling to the end shows the last image", async () => {
    await page.goto(`${base}/#/actor/${large}`);
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll<HTMLImageElement>(".tile img")];
      return images.length > 0 && images.every((image) => image.complete && image.naturalWidth > 0);
    });
    expect(await tilesInDom()).toBeGreaterThan(10);
    expect(await tilesInDom()).toBeLessThan(100);
    expect(await page.textContent(".selection-bar .select-all")).toBe(`Select all ${imageCount}`);
    if (screenshots) await page.screenshot({ path: join(screenshots, "actor-1000-top.png") });

    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const last = largeActor.filenames.at(-1)!;
    await page.waitForFunction((filename) => {
      const image = document.querySelector<HTMLImageElement>(`.tile[data-filename="${filename}"] img`);
      return image?.complete && image.naturalWidth > 0 && image.getBoundingClientRect().bottom <= window.innerHeight;
    }, last);
    expect(await page.getAttribute(`.tile[data-filename="${last}"]`, "data-index")).toBe(String(imageCount - 1));
    expect(await tilesInDom()).toBeLessThan(100);
    if (screenshots) await page.screenshot({ path: join(screenshots, "actor-1000-end.png") });
  }, 60_000);

  it("moves by keys across the whole set and selects a range by Shift-click", async () => {
    await page.keyboard.press("Home");
    await page.waitForFunction(() => document.activeElement?.getAttribute("data-index") === "0" && window.scrollY < 200);
    await page.keyboard.press("End");
    await page.waitForFunction((index) => document.activeElement?.getAttribute("data-index") === index, String(imageCount - 1));
    // One tile is in the tab order: the focused one.
    expect(await page.locator('.tile[tabindex="0"]').count()).toBe(1);
    await page.keyboard.press("ArrowUp");
    const columns = Number(await page.getAttribute(".grid", "aria-colcount"));
    await page.waitForFunction((index) => document.activeElement?.getAttribute("data-index") === index, String(imageCount - 1 - columns));

    await page.click(`.tile[data-index="${imageCount - 1}"]`);
    await page.keyboard.press("Home");
    await page.waitForSelector('.tile[data-index="5"]');
    await page.click('.tile[data-index="5"]', { modifiers: ["Shift"] });
    await page.waitForFunction((count) => document.querySelector(".selection-bar strong")?.textContent === String(count), imageCount - 5);
    await page.keyboard.press("Escape");
  }, 60_000);

  it("selects all 1,000 and rates them in one request", async () => {
    const rateRequests: Request[] = [];
    page.on("request", (request) => (request.postData() ?? "").includes("rateImages") && rateRequests.push(request));
    // From the top again: only the first page is loaded, and select-all loads the rest.
    await page.reload();
    await page.waitForSelector(".tile");
    await page.click(".selection-bar .select-all");
    await page.waitForFunction((count) => document.querySelector(".selection-bar strong")?.textContent === String(count), imageCount);
    await page.click(".selection-bar .rate-good");

    // One request, but 1,000 write-through steps on the service: seconds on a busy machine.
    await expect.poll(() => ratedCount(largeActor.id, 1), { timeout: 60_000 }).toBe(imageCount);
    await expect.poll(() => chip("Good").textContent()).toBe(String(imageCount));
    expect(rateRequests).toHaveLength(1);
    expect(JSON.parse(rateRequests[0]!.postData()!).variables.filenames).toHaveLength(imageCount);
    expect(await page.locator('.tile[data-rating="GOOD"]').count()).toBe(await tilesInDom());
  }, 90_000);

  it("shows a rating and a sync made elsewhere without a reload", async () => {
    await page.goto(`${base}/#/actor/${small}`);
    await page.waitForSelector(".tile img");
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    const [filename] = smallActor.filenames;
    await graphql(`mutation { rateImages(name: "${small}", filenames: ["${filename}"], rating: BAD) { __typename } }`);
    await page.waitForSelector(`.tile[data-filename="${filename}"][data-rating="BAD"]`);
    await expect.poll(() => chip("Bad").textContent()).toBe("1");

    expect(await page.locator(".tile .badge", { hasText: "local" }).count()).toBe(3);
    await graphql(`mutation { startSync(input: { actors: ["${small}"] }) { __typename } }`);
    await page.waitForFunction(
      () => [...document.querySelectorAll(".tile .badge")].filter((badge) => badge.textContent?.includes("synced")).length === 3,
    );
    await expect.poll(() => chip("Synced").textContent()).toBe("3");
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  }, 60_000);

  it("refreshes the actors list when an actor changes elsewhere", async () => {
    await page.click(".back");
    const goodCell = page.locator(`[data-actor="${small}"] td.good`);
    await expect.poll(() => goodCell.textContent()).toBe("0");
    await graphql(
      `mutation { rateImages(name: "${small}", filenames: ${JSON.stringify(smallActor.filenames)}, rating: GOOD) { __typename } }`,
    );
    await expect.poll(() => goodCell.textContent()).toBe("3");
  }, 60_000);

  it("asked nothing of another machine and logged no error", () => {
    expect(elsewhere).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
