import { randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { getOperationAST, GraphQLError, type ExecutionResult } from "graphql";
import { createYoga, handleStreamOrSingleExecutionResult, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { AppContext } from "./context.ts";
import { cachedStatement } from "./db/statements.ts";
import { defaultQueryFor, renderGraphiQLPage, useGraphiQLAssets } from "./graphiql.ts";
import { createGraphQLContext, type GraphQLContext } from "./schema/context.ts";
import { schema } from "./schema/index.ts";
import { maxAliases, maxTokens, useQueryCostLimit } from "./schema/query-cost.ts";

export const graphqlEndpoint = "/graphql";
const defaultMaxBodyBytes = 1024 * 1024;
const defaultMaxUploadBytes = 256 * 1024 * 1024;

export interface ApiOptions {
  /** Unexpected errors show their message instead of "Unexpected error." (NODE_ENV=development by default). */
  development?: boolean;
  /** Largest request body accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Largest multipart body (image uploads through `addImages`), in bytes (default 256 MiB). */
  maxUploadBytes?: number;
  /** Deepest selection accepted (default 14). */
  maxDepth?: number;
}

export type Api = YogaServerInstance<Record<string, never>, GraphQLContext>;

const requestIds = new WeakMap<Request, string>();

/** 127.0.0.0/8, ::1 and localhost: the only hosts where mutations need no token. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare) || bare === "::ffff:127.0.0.1";
}

/** The yoga instance over the schema: tests call `api.fetch`, `startServer` puts it on a socket. */
export function createApi(app: AppContext, options: ApiOptions = {}): Api {
  const development = options.development ?? process.env.NODE_ENV === "development";
  return createYoga<Record<string, never>, GraphQLContext>({
    schema,
    graphqlEndpoint,
    landingPage: false,
    // Masking is done by useMaskUnexpectedErrors, which knows the request id.
    maskedErrors: false,
    logging: {
      debug: () => {},
      info: (...args: unknown[]) => app.logger.info(args.map(String).join(" ")),
      warn: (...args: unknown[]) => app.logger.warn(args.map(String).join(" ")),
      error: (...args: unknown[]) => app.logger.error(args.map(String).join(" ")),
    },
    context: ({ request }) => createGraphQLContext(app, requestIds.get(request) ?? randomUUID()),
    graphiql: () => ({ title: "actor-manifests", defaultQuery: defaultQueryFor(firstActorName(app)) }),
    renderGraphiQL: (graphiqlOptions) =>
      renderGraphiQLPage({ endpoint: graphqlEndpoint, title: graphiqlOptions.title, defaultQuery: graphiqlOptions.defaultQuery }),
    plugins: [
      useRequestId(),
      useBodyLimit(options),
      useGraphiQLAssets(),
      useCSRFPrevention({ requestHeaders: ["x-graphql-yoga-csrf"] }),
      maxTokensPlugin({ n: maxTokens }),
      maxAliasesPlugin({ n: maxAliases }),
      maxDepthPlugin({ n: options.maxDepth ?? 14, flattenFragments: true }),
      useQueryCostLimit(),
      useMutationToken(app),
      useMaskUnexpectedErrors(app, development),
    ],
  });
}

function firstActorName(app: AppContext): string | null {
  const row = cachedStatement(app.db, "SELECT name FROM actors ORDER BY total_count DESC, name LIMIT 1").get() as { name: string } | undefined;
  return row?.name ?? null;
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
 * Refuses bodies whose declared length is over the limit. `startServer` also counts the
 * bytes of bodies sent without a length (chunked) before they reach yoga.
 */
function useBodyLimit(options: ApiOptions): Plugin {
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      const maxBytes = bodyLimitFor(request.headers.get("content-type"), options);
      if (Number(request.headers.get("content-length")) > maxBytes) endResponse(bodyTooLarge(fetchAPI.Response, maxBytes));
    },
  };
}

/** Image uploads are multipart and large; every other body is a small JSON document. */
function bodyLimitFor(contentType: string | null | undefined, options: ApiOptions): number {
  return contentType?.toLowerCase().startsWith("multipart/form-data")
    ? (options.maxUploadBytes ?? defaultMaxUploadBytes)
    : (options.maxBodyBytes ?? defaultMaxBodyBytes);
}

function bodyTooLarge(ResponseClass: typeof Response, maxBytes: number): Response {
  return new ResponseClass(`request body over ${maxBytes} bytes`, { status: 413, headers: { "content-type": "text/plain" } });
}

/** Off loopback, a mutation needs `Authorization: Bearer <API_TOKEN>`; queries stay open. */
function useMutationToken(app: AppContext): Plugin<GraphQLContext> {
  const required = !isLoopbackHost(app.config.host);
  const expected = app.config.apiToken ? Buffer.from(`Bearer ${app.config.apiToken}`) : undefined;
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (!required) return;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== "mutation") return;
      const given = Buffer.from(args.contextValue.request.headers.get("authorization") ?? "");
      if (expected && given.length === expected.length && timingSafeEqual(given, expected)) return;
      setResultAndStopExecution({
        errors: [
          new GraphQLError("mutations need Authorization: Bearer <API_TOKEN> when the service is not bound to loopback", {
            extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
          }),
        ],
      });
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
 */
export async function startServer(app: AppContext, options: ApiOptions = {}): Promise<Server> {
  const { host, port, apiToken } = app.config;
  if (!isLoopbackHost(host) && !apiToken)
    throw new Error(`refusing to listen on ${host} without API_TOKEN: mutations would be open to the network`);
  const api = createApi(app, options);
  const server = createServer((request, response) => {
    handleNodeRequest(api, request, response, bodyLimitFor(request.headers["content-type"], options)).catch((error: unknown) => {
      app.logger.error(`http: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
      response.end("internal error");
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolveListen();
    });
  });
  return server;
}

/**
 * Reads the body with a byte limit (chunked bodies included), hands yoga a Fetch request,
 * and streams its response back (server-sent events included).
 */
async function handleNodeRequest(api: Api, request: IncomingMessage, response: ServerResponse, maxBytes: number): Promise<void> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      response.writeHead(413, { "content-type": "text/plain", connection: "close" });
      response.end(`request body over ${maxBytes} bytes`);
      request.destroy();
      return;
    }
    chunks.push(chunk);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const method = request.method ?? "GET";
  const url = `http://${request.headers.host ?? "localhost"}${request.url ?? "/"}`;
  const abort = new AbortController();
  response.once("close", () => abort.abort());
  const fetched = await api.fetch(url, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : Buffer.concat(chunks),
    signal: abort.signal,
  });
  const outgoing: Record<string, string | string[]> = {};
  fetched.headers.forEach((value, name) => {
    outgoing[name] = value;
  });
  const cookies = fetched.headers.getSetCookie();
  if (cookies.length > 0) outgoing["set-cookie"] = cookies;
  response.writeHead(fetched.status, outgoing);
  if (!fetched.body || method === "HEAD") {
    response.end();
    return;
  }
  for await (const chunk of fetched.body as unknown as AsyncIterable<Uint8Array>) {
    if (!response.write(chunk)) await new Promise((resolveDrain) => response.once("drain", resolveDrain));
  }
  response.end();
}
