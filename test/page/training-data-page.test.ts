import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBrowserTests } from "../helpers/chromium.ts";
import { type DemoPage, openDemoPage } from "./demo-page.ts";

const actorName = "0004_south_asian_45_male";
/** Where screenshots go when asked (PAGE_SCREENSHOTS=folder): the list and an actor. */
const screenshots = process.env.PAGE_SCREENSHOTS;

/** The Training Data page in headless Chromium against the real compiled server on the demo (demo-page.ts). */
describe.runIf(runBrowserTests)("the Training Data page in headless Chromium", () => {
  let demo: DemoPage;
  let dataDir: string;
  let page: Page;
  let base: string;

  const goodOf = (filename: string) => {
    const db = new Database(join(dataDir, "actor-manifests.db"), { readonly: true });
    try {
      return db.prepare("SELECT good FROM images WHERE filename = ?").pluck().get(filename) as number | null | undefined;
    } finally {
      db.close();
    }
  };
  const promptMetadataGood = (filename: string) => {
    const file = join(dataDir, "actors", actorName, "training_data", "prompt_metadata.json");
    return (JSON.parse(readFileSync(file, "utf8")) as Record<string, { good?: boolean | null }>)[filename]?.good ?? null;
  };
  const tile = (filename: string) => page.locator(`.tile[data-filename="${filename}"]`);
  const filenamesRated = (rating: string) =>
    page.$$eval(`.tile[data-rating="${rating}"]`, (tiles) => tiles.map((t) => (t as HTMLElement).dataset.filename!));

  beforeAll(async () => {
    demo = await openDemoPage();
    ({ dataDir, page, base } = demo);
  }, 180_000);

  afterAll(() => demo?.close());

  it("loads from the service alone, lists the actors with counts, and finds one by search", async () => {
    const started = Date.now();
    await page.goto(`${base}/`);
    await page.waitForSelector(".actor-row");
    const firstPaintMs = Date.now() - started;
    expect(await page.locator(".actor-row").count()).toBe(36);
    expect(await page.textContent(".summary")).toMatch(/36 actors · \d+ images/);
    if (screenshots) await page.screenshot({ path: join(screenshots, "actors.png") });
    await page.fill("input.search", "south_asian_45");
    await page.waitForFunction(() => document.querySelectorAll(".actor-row").length === 1);
    console.info(`actor list on screen in ${firstPaintMs} ms`);
  }, 60_000);

  it("opens the actor and shows its thumbnails, made by the service", async () => {
    await page.click(`[data-actor="${actorName}"] .actor-name`);
    await page.waitForSelector(".tile img");
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll<HTMLImageElement>(".tile img")];
      return images.length >= 8 && images.every((image) => image.complete && image.naturalWidth > 0);
    });
    expect(await page.locator(".tile").count()).toBe(11);
    expect(await page.textContent(".actor-head h1")).toBe(actorName);
  }, 60_000);

  it("rates an image by a click and another by a key, and SQLite and prompt_metadata.json follow", async () => {
    const [clicked, keyed] = await filenamesRated("UNRATED");
    expect(keyed).toBeDefined();
    await tile(clicked!).locator(".rate-good").click();
    await page.waitForSelector(`.tile[data-filename="${clicked}"][data-rating="GOOD"]`);
    await expect.poll(() => goodOf(clicked!)).toBe(1);
    await expect.poll(() => promptMetadataGood(clicked!)).toBe(true);

    await tile(keyed!).click();
    await page.keyboard.press("b");
    await page.waitForSelector(`.tile[data-filename="${keyed}"][data-rating="BAD"]`);
    await expect.poll(() => goodOf(keyed!)).toBe(0);
    await expect.poll(() => promptMetadataGood(keyed!)).toBe(false);
    // The details beside the grid show the focused image: its MD5 and prompt.
    expect(await page.textContent(".details h3")).toBe(keyed);
    if (screenshots) await page.screenshot({ path: join(screenshots, "actor.png") });
  }, 60_000);

  it("selects three images and rates them at once, in one request", async () => {
    const filenames = await page.$$eval(".tile", (tiles) => tiles.slice(0, 3).map((t) => (t as HTMLElement).dataset.filename!));
    await tile(filenames[0]!).click();
    await tile(filenames[2]!).click({ modifiers: ["Shift"] });
    expect(await page.locator(".tile.selected").count()).toBe(3);
    const request = page.waitForRequest((r) => (r.postData() ?? "").includes("rateImages"));
    await page.click(".selection-bar .rate-unrated");
    expect(JSON.parse((await request).postData()!).variables.filenames).toEqual(filenames);
    await page.waitForFunction(
      (names) => names.every((name) => document.querySelector(`.tile[data-filename="${name}"]`)?.getAttribute("data-rating") === "UNRATED"),
      filenames,
    );
    for (const filename of filenames) await expect.poll(() => goodOf(filename)).toBeNull();
  }, 60_000);

  it("runs a scan, then a sync after its plan, each with progress to the end", async () => {
    await page.click(".actor-head .actions >> text=Scan");
    await page.waitForSelector('.job[data-state="SUCCEEDED"]', { timeout: 30_000 });
    await page.click(".actor-head .actions >> text=Sync…");
    await page.waitForSelector(".dialog .plan, .dialog .plan-empty", { timeout: 30_000 });
    expect(await page.textContent(".dialog")).toMatch(/upload|Nothing to do/);
    const jobsBefore = await page.locator('.job[data-state="SUCCEEDED"]').count();
    await page.click(".dialog footer button.primary");
    await page.waitForFunction((count) => document.querySelectorAll('.job[data-state="SUCCEEDED"]').length > count, jobsBefore, {
      timeout: 60_000,
    });
    expect(await page.locator('.job[data-state="SUCCEEDED"] [role="progressbar"]').last().getAttribute("aria-valuenow")).toBe("100");
  }, 120_000);

  it("shows the plan of a deletion and deletes only once confirmed", async () => {
    const victim = await page.$eval(".tile >> nth=0", (t) => (t as HTMLElement).dataset.filename!);
    await tile(victim).click();
    await page.click(".selection-bar >> text=Delete…");
    await page.waitForSelector(".dialog .plan table");
    expect(await page.textContent(".dialog .plan")).toContain(victim);
    const run = page.locator(".dialog footer button.danger");
    expect(await run.isDisabled()).toBe(true);
    expect(goodOf(victim)).not.toBeUndefined();
    await page.check(".dialog .confirm input");
    await run.click();
    await page.waitForSelector(`.tile[data-filename="${victim}"]`, { state: "detached" });
    expect(goodOf(victim)).toBeUndefined();
  }, 60_000);

  it("asked nothing of another machine and logged no error", () => {
    expect(demo.elsewhere).toEqual([]);
    expect(demo.consoleErrors).toEqual([]);
  });
});
