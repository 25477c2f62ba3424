import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { confinedPage, launchChromium } from "../helpers/chromium.ts";

const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");

/** The demo server and a Chromium tab on it, with what the tab asked elsewhere or logged as an error. */
export interface DemoPage {
  base: string;
  dataDir: string;
  page: Page;
  /** Requests that would have left the service (aborted). */
  elsewhere: string[];
  consoleErrors: string[];
  /** A GraphQL request of another client (a script, the CLI's user): not the page's. */
  graphql: <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;
  close: () => Promise<void>;
}

/**
 * The real compiled server (`serve`) on a fresh demo data set (real JPEG and PNG files, the
 * embedded S3), and headless Chromium with every request that would leave the service
 * aborted, as on a machine without internet.
 */
export async function openDemoPage(): Promise<DemoPage> {
  const dataDir = mkdtempSync(join(tmpdir(), "am-page-"));
  const child: ChildProcess = spawn(process.execPath, [bin, "serve", "--port", "0"], {
    env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, HOME: dataDir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stderr!.on("data", (chunk) => {
      log += chunk;
      const match = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (match) resolvePort(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${log}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const browser: Browser = await launchChromium();
  const { page, elsewhere, consoleErrors } = await confinedPage(browser, base);
  const graphql = async <T>(query: string, variables: Record<string, unknown> = {}) => {
    const response = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: T; errors?: unknown };
    if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data!;
  };
  const close = async () => {
    await browser.close();
    child.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { base, dataDir, page, elsewhere, consoleErrors, graphql, close };
}
