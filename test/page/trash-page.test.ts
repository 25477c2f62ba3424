import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { humanSize } from "../../src/human-size.ts";
import { runBrowserTests } from "../helpers/chromium.ts";
import { type DemoPage, openDemoPage } from "./demo-page.ts";

const actorName = "0004_south_asian_45_male";
/** Where screenshots go when asked (PAGE_SCREENSHOTS=folder): the trash, a refused restore, an empty's plan. */
const screenshots = process.env.PAGE_SCREENSHOTS;

interface TrashItem {
  id: number;
  filename: string;
  origin: string;
  bytes: number;
  md5: string | null;
  trashLocation: string | null;
}

/** The trash view of the page: files deleted from disk through GraphQL, restored and emptied by clicks. */
describe.runIf(runBrowserTests)("the trash on the Training Data page", () => {
  let demo: DemoPage;
  let page: Page;
  let victim: string;
  let original: Buffer;
  let imageCount: number;

  const imagePath = (filename: string) => join(demo.dataDir, "actors", actorName, "training_data", filename);
  const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest("hex");
  const deleteFromDisk = async (filename: string) => {
    const data = await demo.graphql<{ deleteImages: { __typename: string; message?: string } }>(
      `mutation($name: String!, $filenames: [String!]) { deleteImages(name: $name, filenames: $filenames, from: DISK) { __typename ... on Error { message } } }`,
      { name: actorName, filenames: [filename] },
    );
    expect(data.deleteImages).toEqual({ __typename: "ImageOperationPayload" });
    expect(existsSync(imagePath(filename))).toBe(false);
  };
  const trashItems = async () =>
    (
      await demo.graphql<{ trash: { nodes: TrashItem[] } }>(
        `{ trash(first: 500) { nodes { id filename origin md5 trashLocation bytes } } }`,
      )
    ).trash.nodes;
  const row = (id: number) => page.locator(`.trash-row[data-trash-id="${id}"]`);

  beforeAll(async () => {
    demo = await openDemoPage();
    page = demo.page;
  }, 180_000);

  afterAll(() => demo?.close());

  it("shows a file deleted from disk with its size, MD5, side and why, reached from the actor", async () => {
    await page.goto(`${demo.base}/#/actor/${actorName}`);
    await page.waitForSelector(".tile");
    victim = await page.$eval(".tile >> nth=0", (t) => (t as HTMLElement).dataset.filename!);
    imageCount = await page.locator(".tile").count();
    original = readFileSync(imagePath(victim));
    await deleteFromDisk(victim);

    await page.click(".actor-head .actions >> text=Trash");
    await page.waitForSelector(".trash-row");
    expect(page.url()).toContain(`#/trash/${actorName}`);
    const [item] = await trashItems();
    const shown = row(item!.id);
    expect(await shown.getAttribute("data-filename")).toBe(victim);
    expect(await shown.locator(".md5").textContent()).toBe(md5(original));
    expect(await shown.locator(".side").textContent()).toBe("Local");
    expect(await shown.locator(".origin").textContent()).toBe("Deleted");
    expect(await shown.locator(".size").textContent()).toBe(humanSize(item!.bytes));
    if (screenshots) await page.screenshot({ path: join(screenshots, "trash.png") });

    // Filters: another actor's trash and the S3 side hold nothing of it.
    await page.selectOption(".trash-view select", "S3");
    await page.waitForSelector(".trash-view .empty");
    await page.selectOption(".trash-view select", "");
    await page.waitForSelector(".trash-row");
    const actorFilter = page.locator(".trash-view input.search");
    await actorFilter.fill("0000_european_16_male");
    await actorFilter.press("Enter");
    await page.waitForSelector(".trash-view .empty");
    await actorFilter.fill("nobody");
    await actorFilter.press("Enter");
    expect(await page.textContent(".trash-view .error")).toBe('no actor with name "nobody"');
    await actorFilter.fill(actorName);
    await actorFilter.press("Enter");
    await page.waitForSelector(".trash-row");
  }, 60_000);

  it("restores it by a click: the file is back on disk, out of the trash, and in the actor's grid and counts", async () => {
    const [item] = await trashItems();
    await row(item!.id).locator("button.restore").click();
    await row(item!.id).waitFor({ state: "detached" });
    expect(md5(readFileSync(imagePath(victim)))).toBe(md5(original));
    expect(await trashItems()).toEqual([]);
    await page.click(".trash-view .back");
    await page.waitForSelector(`.tile[data-filename="${victim}"]`);
    expect(await page.textContent(".actor-head")).toContain(`${imageCount} images`);
  }, 60_000);

  it("says what occupies the place of a refused restore, and restores moving it to the trash once confirmed", async () => {
    await deleteFromDisk(victim);
    const newcomer = Buffer.from("what was put there since");
    writeFileSync(imagePath(victim), newcomer);
    await page.goto(`${demo.base}/#/trash`);
    const [item] = await trashItems();
    await row(item!.id).locator("button.restore").click();
    await page.waitForSelector(".dialog .occupied");
    expect(await page.textContent(".dialog .occupied ul")).toContain(victim);
    if (screenshots) await page.screenshot({ path: join(screenshots, "trash-occupied.png") });
    const overwrite = page.locator(".dialog footer button.danger");
    expect(await overwrite.isDisabled()).toBe(true);
    expect(readFileSync(imagePath(victim))).toEqual(newcomer);
    await page.check(".dialog .confirm input");
    await overwrite.click();
    await row(item!.id).waitFor({ state: "detached" });
    expect(md5(readFileSync(imagePath(victim)))).toBe(md5(original));
    const [occupant] = await trashItems();
    expect(occupant).toMatchObject({ filename: victim, origin: "RESTORE", md5: md5(newcomer) });
    expect(await row(occupant!.id).locator(".origin").textContent()).toBe("Moved out by a restore");
  }, 60_000);

  it("empties a selection only after showing its dry-run plan and a confirmation, and the file is gone", async () => {
    const [occupant] = await trashItems();
    const kept = join(demo.dataDir, occupant!.trashLocation!);
    expect(existsSync(kept)).toBe(true);
    await row(occupant!.id).locator('input[type="checkbox"]').check();
    await page.click(".selection-bar >> text=Delete selected for good…");
    await page.waitForSelector(".dialog .plan table");
    expect(await page.textContent(".dialog .plan")).toContain(`${actorName}/${victim}`);
    expect(await page.textContent(".dialog .plan-summary")).toBe("1 item(s), 24 B, deleted for good");
    if (screenshots) await page.screenshot({ path: join(screenshots, "trash-empty.png") });
    const run = page.locator(".dialog footer button.danger");
    expect(await run.isDisabled()).toBe(true);
    expect(existsSync(kept)).toBe(true);
    await page.check(".dialog .confirm input");
    await run.click();
    await row(occupant!.id).waitFor({ state: "detached" });
    expect(existsSync(kept)).toBe(false);
    expect(await trashItems()).toEqual([]);
  }, 60_000);

  it("shows what a deletion elsewhere trashed without a reload, and empties everything older than a chosen age after its plan", async () => {
    await deleteFromDisk(victim);
    const [item] = await trashItems();
    await row(item!.id).waitFor();
    await page.click(".trash-view >> text=Empty trash…");
    await page.waitForSelector(".dialog .plan-empty");
    await page.selectOption(".dialog select", "all");
    await page.waitForSelector(".dialog .plan table");
    expect(await page.textContent(".dialog .plan")).toContain(victim);
    await page.check(".dialog .confirm input");
    await page.click(".dialog footer button.danger");
    await row(item!.id).waitFor({ state: "detached" });
    expect(existsSync(join(demo.dataDir, item!.trashLocation!))).toBe(false);
    expect(await trashItems()).toEqual([]);
  }, 60_000);

  it("asked nothing of another machine and logged no error", () => {
    expect(demo.elsewhere).toEqual([]);
    expect(demo.consoleErrors).toEqual([]);
  });
});
