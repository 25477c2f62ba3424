import { readFileSync } from "node:fs";
import type { Plugin } from "graphql-yoga";
import { packageFile } from "./project-files.ts";

/** URL prefix under which the service serves GraphiQL's scripts and styles itself (no CDN). */
export const graphiqlAssetsPath = "/graphiql-assets/";

const assetFiles: Record<string, { file: () => string; type: string }> = {
  "react.production.min.js": { file: () => packageFile("react", "umd/react.production.min.js"), type: "text/javascript" },
  "react-dom.production.min.js": { file: () => packageFile("react-dom", "umd/react-dom.production.min.js"), type: "text/javascript" },
  "graphiql.min.js": { file: () => packageFile("graphiql", "graphiql.min.js"), type: "text/javascript" },
  "graphiql.min.css": { file: () => packageFile("graphiql", "graphiql.min.css"), type: "text/css" },
};

const assetCache = new Map<string, Buffer>();

function readAsset(name: string): Buffer | undefined {
  // Own entries only: `/graphiql-assets/constructor` found Object's and answered 500 with a stack.
  const asset = Object.hasOwn(assetFiles, name) ? assetFiles[name] : undefined;
  if (!asset) return undefined;
  let bytes = assetCache.get(name);
  if (!bytes) {
    bytes = readFileSync(asset.file());
    assetCache.set(name, bytes);
  }
  return bytes;
}

/** Serves the four GraphiQL asset files from the installed packages; anything else under the prefix is 404. */
export function useGraphiQLAssets(): Plugin {
  return {
    onRequest({ request, url, fetchAPI, endResponse }) {
      if (!url.pathname.startsWith(graphiqlAssetsPath)) return;
      const name = url.pathname.slice(graphiqlAssetsPath.length);
      const bytes = request.method === "GET" || request.method === "HEAD" ? readAsset(name) : undefined;
      if (!bytes) {
        endResponse(new fetchAPI.Response("not found", { status: 404 }));
        return;
      }
      endResponse(
        new fetchAPI.Response(new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength), {
          status: 200,
          headers: { "content-type": `${assetFiles[name]!.type}; charset=utf-8`, "cache-control": "public, max-age=86400" },
        }),
      );
    },
  };
}

export interface GraphiQLPageOptions {
  title?: string;
  defaultQuery?: string;
  endpoint: string;
}

/** The GraphiQL page, loading React, ReactDOM and GraphiQL from this service only. */
export function renderGraphiQLPage(options: GraphiQLPageOptions): string {
  const config = JSON.stringify({ endpoint: options.endpoint, defaultQuery: options.defaultQuery ?? "" }).replace(/</g, "\\u003c");
  const title = escapeHtml(options.title ?? "actor-manifests GraphiQL");
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${title}</title>
  <link rel="stylesheet" href="${graphiqlAssetsPath}graphiql.min.css" />
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="${graphiqlAssetsPath}react.production.min.js"></script>
  <script src="${graphiqlAssetsPath}react-dom.production.min.js"></script>
  <script src="${graphiqlAssetsPath}graphiql.min.js"></script>
  <script>
    const config = ${config};
    // The CSRF header lets the service tell this page's requests from a cross-site form post.
    const fetcher = GraphiQL.createFetcher({
      url: new URL(config.endpoint, window.location.href).toString(),
      headers: { "x-graphql-yoga-csrf": "graphiql" },
    });
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultQuery: config.defaultQuery,
        defaultEditorToolbarOpen: true,
        shouldPersistHeaders: false,
      }),
    );
  </script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The first query a new GraphiQL tab shows: figures across all actors, then one actor's training data. */
export function defaultQueryFor(actorName: string | null): string {
  const actorPart = actorName
    ? `
  # One actor's training data, as the Training Data tab shows it.
  actor(name: ${JSON.stringify(actorName)}) {
    name
    characterId
    descriptor
    age
    gender
    lastCheckedAt
    statistics {
      totalCount syncedCount localOnlyCount s3OnlyCount
      outOfSyncCount missingCount goodCount totalSize
    }
    trainingImages(first: 10) {
      totalCount
      nodes {
        filename status good sizeBytes checkedAt
        promptPreview generation { type }
      }
      pageInfo { hasNextPage endCursor }
    }
  }`
    : "";
  return `# actor-manifests: training images across disk and S3.
# Run with Ctrl-Enter; the Docs panel describes every field.
{
  # Figures across all actors.
  stats {
    actorCount
    fullySyncedActorCount
    images { totalCount goodCount badCount unratedCount totalSize }
    # "How many GB are only local?"
    byStatus { status imageCount size }
    # "Which actors still need good images?"
    actorsBelowGoodCount(threshold: 10, first: 3) {
      count
      actors { name statistics { goodCount } }
    }
  }${actorPart}
}
`;
}
