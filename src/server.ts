import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { GraphQLError, type ExecutionResult } from "graphql";
import { createYoga, handleStreamOrSingleExecutionResult, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { AppContext } from "./context.ts";
import { actorWithMostImages } from "./db/actor-queries.ts";
import { defaultQueryFor, renderGraphiQLPage, useGraphiQLAssets } from "./graphiql.ts";
import { useImageRoute } from "./image-route.ts";
import { usePage } from "./page/page-route.ts";
import { useThumbnailRoute } from "./page/thumbnails.ts";
import { assertServableConfig, requestRefusalFor, useOperationToken, useRequestGuard } from "./request-guard.ts";
import { createGraphQLContext, type GraphQLContext } from "./schema/context.ts";
import { schema } from "./schema/index.ts";
import { maxAliases, maxTokens, useQueryCostLimit } from "./schema/query-cost.ts";
import { useObservability } from "./observability.ts";
import { removeAbandonedUploads, uploadsDir, useRequestBodyLimits } from "./uploads.ts";

export const graphqlEndpoint = "/graphql";
const defaultMaxBodyBytes = 1024 * 1024;

export interface ApiOptions {
  /** Unexpected errors show their message instead of "Unexpected error." (NODE_ENV=development by default). */
  development?: boolean;
  /** Largest JSON request body accepted, in bytes (default 1 MiB); uploads have `config.maxUploadBytes`. */
  maxBodyBytes?: number;
  /** Deepest selection accepted (default 14). */
  maxDepth?: number;
}

export type Api = YogaServerInstance<Record<string, never>, GraphQLContext>;

const requestIds = new WeakMap<Request, string>();

/** The yoga instance over the schema: tests call `api.fetch`, `startServer` puts it on a socket. */
export function createApi(app: AppContext, options: ApiOptions = {}): Api {
  const development = options.development ?? process.env.NODE_ENV === "development";
  const refusal = requestRefusalFor(app.config);
  return createYoga<Record<string, never>, GraphQLContext>({
    schema,
    graphqlEndpoint,
    landingPage: false,
    // Masking is done by useMaskUnexpectedErrors: yoga's `maskError(error, message, isDev)` sees
    // neither the request nor the context, and a masked error carries the request id.
    maskedErrors: false,
    logging: {
      debug: () => {},
      info: (...args: unknown[]) => app.logger.info(args.map(String).join(" ")),
      warn: (...args: unknown[]) => app.logger.warn(args.map(String).join(" ")),
      error: (...args: unknown[]) => app.logger.error(args.map(String).join(" ")),
    },
    context: ({ request }) => createGraphQLContext(app, requestIds.get(request) ?? randomUUID()),
    graphiql: (request) =>
      refusal(request) === null && { title: "actor-manifests", defaultQuery: defaultQueryFor(actorWithMostImages(app.db)) },
    renderGraphiQL: (graphiqlOptions) =>
      renderGraphiQLPage({ endpoint: graphqlEndpoint, title: graphiqlOptions.title, defaultQuery: graphiqlOptions.defaultQuery }),
    // Yoga's CORS grants every origin; the request guard grants CORS_ORIGINS only.
    cors: false,
    // useRequestBodyLimits counts bodies instead: yoga's counting stream reads ahead of the
    // consumer without backpressure (a 200 MiB upload grew the heap by 130 MB; now 34 MB).
    maxRequestBodySize: false,
    plugins: [
      useRequestGuard(app.config, refusal),
      useImageRoute(app),
      useThumbnailRoute(app),
      usePage(app.config),
      useRequestId(),
      ...useObservability(app),
      useRequestBodyLimits({
        maxJsonBytes: options.maxBodyBytes ?? defaultMaxBodyBytes,
        maxUploadBytes: app.config.maxUploadBytes,
        dir: uploadsDir(app.config.dataDir),
      }),
      useGraphiQLAssets(),
      useCSRFPrevention({ requestHeaders: ["x-graphql-yoga-csrf"] }),
      maxTokensPlugin({ n: maxTokens }),
      maxAliasesPlugin({ n: maxAliases }),
      maxDepthPlugin({ n: options.maxDepth ?? 14, flattenFragments: true }),
      useQueryCostLimit(),
      useOperationToken(app.config),
      useMaskUnexpectedErrors(app, development),
    ],
  });
}

/** Gives each request an id (the caller's `x-request-id` when sane) and echoes it in the response. */
function useRequestId(): Plugin {
  return {
    onRequest({ request }) {
      const given = request.headers.get("x-request-id");
      requestIds.set(request, given && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID());
    },
    onResponse({ request, response }) {
      const id = requestIds.get(request);
      if (id) response.headers.set("x-request-id", id);
    },
  };
}

/**
 * Errors that no resolver expected (not GraphQLErrors, not typed results) become
 * "Unexpected error." with the request id, and the full error goes to the log under that id.
 */
function useMaskUnexpectedErrors(app: AppContext, development: boolean): Plugin<GraphQLContext> {
  const mask = (result: ExecutionResult, requestId: string, setResult: (result: ExecutionResult) => void) => {
    if (!result.errors?.some(isUnexpected)) return;
    setResult({
      ...result,
      errors: result.errors.map((error) => {
        if (!isUnexpected(error)) return error;
        const original = error.originalError!;
        app.logger.error(`request ${requestId}: ${error.path?.join(".") ?? "(no path)"}: ${original.stack ?? original.message}`);
        return new GraphQLError(development ? original.message : "Unexpected error.", {
          nodes: error.nodes,
          path: error.path,
          extensions: { code: "INTERNAL_SERVER_ERROR", requestId },
        });
      }),
    });
  };
  return {
    onExecute({ args }) {
      return {
        onExecuteDone(payload) {
          return handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) =>
            mask(result, args.contextValue.requestId, setResult),
          );
        },
      };
    },
  };
}

function isUnexpected(error: GraphQLError): boolean {
  const original = error.originalError;
  return original != null && !(original instanceof GraphQLError) && original.name !== "GraphQLError";
}

/**
 * Puts the API on `config.host:config.port` (port 0 picks a free one). Refuses to listen
 * off loopback without an API token, since mutations there would be open to anyone.
 * Yoga is the Node request listener itself: bodies stream through it, never buffered here.
 */
export async function startServer(app: AppContext, options: ApiOptions = {}): Promise<Server> {
  assertServableConfig(app.config);
  await removeAbandonedUploads(uploadsDir(app.config.dataDir));
  const api = createApi(app, options);
  // Yoga builds each request's URL from its target and `Host`: one that does not parse (an
  // absolute-form target `POST http://evil.example/graphql`, `OPTIONS *`, `Host: a b`) throws
  // in its Node adapter, before any plugin's `onRequest`, and `createServer(api)` alone answers
  // it 500 with the stack. Refused here: 400, no detail.
  const server = createServer((request, response) => {
    if (request.url?.startsWith("/") && URL.canParse(`http://${request.headers.host || "localhost"}${request.url}`))
      return void api(request, response);
    response.writeHead(400, { "content-type": "text/plain; charset=utf-8", connection: "close" }).end("bad request target or Host\n");
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(app.config.port, app.config.host, () => {
      server.off("error", reject);
      resolveListen();
    });
  });
  return server;
}
