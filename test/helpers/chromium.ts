import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it): no browser download. */
export const chromiumPath = "/usr/bin/chromium";

/** Browser tests run where Chromium is, and always in CI, where its absence is a failure. */
export const runBrowserTests = existsSync(chromiumPath) || Boolean(process.env.CI);
if (!existsSync(chromiumPath)) console.warn(`browser tests: ${chromiumPath} is absent (apt-get install chromium)`);

/** Headless, with every background connection off: this machine has no network beyond loopback. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A page that can reach only the service at `base` (as on a machine without internet), with what it tried elsewhere and the errors it logged. */
export async function confinedPage(browser: Browser, base: string, viewport = { width: 1440, height: 1000 }) {
  const page = await browser.newPage({ viewport });
  const elsewhere: string[] = [];
  const consoleErrors: string[] = [];
  await page.route("**/*", (route) => {
    if (route.request().url().startsWith(base)) return route.continue();
    elsewhere.push(route.request().url());
    return route.abort();
  });
  page.on("pageerror", (error) => consoleErrors.push(error.message));
  page.on("console", (message) => message.type() === "error" && consoleErrors.push(message.text()));
  return { page, elsewhere, consoleErrors };
}
