import { afterAll, describe, expect, it } from "vitest";
import { humanSize } from "../../src/human-size.ts";
import { pageAssetsPath } from "../../src/page/page-route.ts";
import { makeApiWorld } from "../helpers/api-world.ts";

const world = makeApiWorld();
afterAll(() => world.dispose());

describe("the page's shared modules", () => {
  it("serves human-size.js, which formats bytes exactly as the API and the CLI do", async () => {
    const response = await world.api.fetch(`http://127.0.0.1${pageAssetsPath}human-size.js`);
    expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const served = (await import(`data:text/javascript,${encodeURIComponent(await response.text())}`)) as { humanSize: typeof humanSize };
    for (const bytes of [0, 999, 1000, 1049, 9_999, 99_949, 123_456, 5_000_000, 1.5e12, 2e15])
      expect(served.humanSize(bytes), String(bytes)).toBe(humanSize(bytes));
  });
});
