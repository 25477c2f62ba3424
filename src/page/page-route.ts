import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../config.ts";
import { humanSize } from "../human-size.ts";
import { packageFile, projectPath } from "../project-files.ts";
import { isLoopbackHost } from "../request-guard.ts";
import { thumbnailRoutePath } from "./thumbnails.ts";

/**
 * The Training Data page (SPEC.md §11) at `/`: an HTML shell, the page's own ES modules and
 * styles from `src/page/web/`, and Preact and htm straight from their installed packages,
 * bound to bare names by an import map. No bundler and no CDN: the browser loads modules
 * from this service alone, and what runs is what is in the tree.
 */
export const pageAssetsPath = "/page/";

// The browser files are not compiled: compiled code reads them from the source tree too.
const webFolder = projectPath("src/page/web");

/** Bare module names the page imports, and the file of the installed package behind each. */
const vendorModules: Record<string, { file: string; specifier: string }> = {
  "preact.mjs": { file: packageFile("preact", "dist/preact.mjs"), specifier: "preact" },
  "preact-hooks.mjs": { file: packageFile("preact", "hooks/dist/hooks.mjs"), specifier: "preact/hooks" },
  "htm.mjs": { file: packageFile("htm", "dist/htm.mjs"), specifier: "htm" },
  "htm-preact.mjs": { file: packageFile("htm", "preact/index.module.js"), specifier: "htm/preact" },
};

/**
 * Server functions the page runs as they are, served as modules of their own so the page
 * formats as the API and the CLI do. Each must be self-contained: its source is the module.
 */
const sharedModules: Record<string, (...args: never[]) => unknown> = { "human-size.js": humanSize };

const contentTypes: Record<string, string> = { ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css" };

interface Asset {
  bytes: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const add = (name: string, bytes: Buffer) => {
    const type = contentTypes[extname(name)] ?? "application/octet-stream";
    assets.set(name, {
      bytes: new Uint8Array(bytes),
      type: `${type}; charset=utf-8`,
      etag: `"${createHash("md5").update(bytes).digest("hex")}"`,
    });
  };
  for (const file of readdirSync(webFolder)) add(file, readFileSync(join(webFolder, file)));
  for (const [name, { file }] of Object.entries(vendorModules)) add(`vendor/${name}`, readFileSync(file));
  for (const [name, shared] of Object.entries(sharedModules)) add(name, Buffer.from(`export ${shared.toString()}\n`));
  return assets;
}

function renderPage(config: Config): string {
  const importMap = {
    imports: Object.fromEntries(
      Object.entries(vendorModules).map(([name, { specifier }]) => [specifier, `${pageAssetsPath}vendor/${name}`]),
    ),
  };
  const settings = {
    graphqlEndpoint: "/graphql",
    thumbnailPath: thumbnailRoutePath,
    tokenRequired: !isLoopbackHost(config.host),
    storageMode: config.storageMode,
  };
  const json = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>Training Data · actor-manifests</title>
  <link rel="icon" href="data:," />
  <link rel="stylesheet" href="${pageAssetsPath}page.css" />
  <script type="importmap">${json(importMap)}</script>
  <script id="settings" type="application/json">${json(settings)}</script>
  <script type="module" src="${pageAssetsPath}app.js"></script>
</head>
<body>
  <div id="app"><p class="loading">Loading the Training Data page…</p></div>
</body>
</html>`;
}

/** Serves `/` and `/page/…`; the request guard before it has checked Host and Origin. */
export function usePage(config: Config): Plugin {
  const assets = loadAssets();
  const html = new TextEncoder().encode(renderPage(config));
  return {
    onRequest({ request, url, fetchAPI, endResponse }) {
      const isPage = url.pathname === "/" || url.pathname === "/index.html";
      if (!isPage && !url.pathname.startsWith(pageAssetsPath)) return;
      if (request.method !== "GET" && request.method !== "HEAD") {
        endResponse(new fetchAPI.Response("the page is read with GET\n", { status: 405 }));
        return;
      }
      if (isPage) {
        endResponse(
          new fetchAPI.Response(request.method === "HEAD" ? null : html, {
            headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
          }),
        );
        return;
      }
      const asset = assets.get(url.pathname.slice(pageAssetsPath.length));
      if (!asset) {
        endResponse(new fetchAPI.Response("not found\n", { status: 404 }));
        return;
      }
      // Revalidated on every load, so a new version of the page is never mixed with an old module.
      const headers = { "content-type": asset.type, etag: asset.etag, "cache-control": "no-cache" };
      if (request.headers.get("if-none-match") === asset.etag) {
        endResponse(new fetchAPI.Response(null, { status: 304, headers }));
        return;
      }
      endResponse(new fetchAPI.Response(request.method === "HEAD" ? null : asset.bytes, { headers }));
    },
  };
}
