import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/server.ts";
import { makeActor } from "../helpers/actors.ts";
import { launchChromium, runBrowserTests } from "../helpers/chromium.ts";
import { createWorld, type World } from "../helpers/world.ts";

const A = "0001_european_30_male";
const token = "page-test-token";

describe.runIf(runBrowserTests)("the Training Data page off loopback", () => {
  let world: World;
  let server: Server;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    world = await createWorld({ env: { HOST: "0.0.0.0", PORT: "0", API_TOKEN: token } });
    world.ctx.s3 = world.s3;
    const pictures = await Promise.all(
      [1, 2, 3].map((seed) =>
        sharp({ create: { width: 300, height: 400, channels: 3, background: { r: 60 * seed, g: 120, b: 200 } } })
          .jpeg()
          .toBuffer(),
      ),
    );
    await makeActor(world, { name: A, images: pictures.map((content) => ({ content, local: true, s3: true })) });
    server = await startServer(world.ctx);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await world?.close();
  });

  it("asks for the token once, then shows thumbnails and rates with it", async () => {
    const page = await browser.newPage();
    const unauthorized: string[] = [];
    page.on("response", (response) => response.status() === 401 && unauthorized.push(response.url()));
    await page.route("**/*", (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
    await page.goto(`${base}/#/actor/${A}`);
    await page.fill(".token-gate input", token);
    await page.click(".token-gate button");
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll<HTMLImageElement>(".tile img")];
      return images.length === 3 && images.every((image) => image.complete && image.naturalWidth > 0 && image.src.startsWith("blob:"));
    });
    const filename = await page.$eval(".tile >> nth=1", (tile) => (tile as HTMLElement).dataset.filename!);
    await page.click(`.tile[data-filename="${filename}"] .rate-good`);
    const good = () => world.db.$client.prepare("SELECT good FROM images WHERE filename = ?").pluck().get(filename);
    await expect.poll(good).toBe(1);
    // Kept for the tab: a reload asks nothing.
    await page.reload();
    await page.waitForSelector(".tile img");
    expect(await page.locator(".token-gate").count()).toBe(0);
    expect(unauthorized).toEqual([]);
    await page.close();
  }, 60_000);
});
