import { timingSafeEqual } from "node:crypto";
import { networkInterfaces, hostname as machineHostname } from "node:os";
import { getCORSHeadersByRequestAndOptions, type CORSOptions } from "@whatwg-node/server";
import { getOperationAST, GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Config } from "./config.ts";
import type { GraphQLContext } from "./schema/context.ts";
import { isMultipart } from "./uploads.ts";

/** 127.0.0.0/8, ::1 and localhost: the only hosts where the service needs no token. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare) || bare === "::ffff:127.0.0.1";
}

/** Off loopback, mutations and subscriptions would be open to the network: refuse before anything is written. */
export function assertServableConfig(config: Config): void {
  if (!isLoopbackHost(config.host) && !config.apiToken)
    throw new Error(`refusing to listen on ${config.host} without API_TOKEN: mutations would be open to the network`);
}

const wildcardHosts = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * The names a request's `Host` may carry (DNS rebinding guard): loopback, the bind address,
 * and, when bound to every interface, the machine's name and addresses; plus ALLOWED_HOSTS.
 */
export function serviceHostnames(config: Config): Set<string> {
  const names = new Set(["localhost", "127.0.0.1", "::1", ...config.allowedHosts]);
  const bind = config.host.replace(/^\[|\]$/g, "").toLowerCase();
  if (wildcardHosts.has(bind)) {
    names.add(machineHostname().toLowerCase());
    for (const addresses of Object.values(networkInterfaces()))
      for (const address of addresses ?? []) names.add(address.address.toLowerCase());
  } else {
    names.add(bind);
  }
  return names;
}

/** Why a request may not reach the service, or null: see `useRequestGuard`. */
export type RequestRefusal = (request: Request) => string | null;

export function requestRefusalFor(config: Config): RequestRefusal {
  const hostnames = serviceHostnames(config);
  const granted = new Set(config.corsOrigins);
  return (request) => {
    const url = new URL(request.url);
    const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    // `Host: evil.example@127.0.0.1` puts a user part in the URL, whose host then reads as loopback.
    if (url.username !== "" || url.password !== "") return "a Host with a user part is not one of this service's names";
    if (!hostnames.has(host)) return `host ${url.hostname} is not one of this service's names (ALLOWED_HOSTS adds one)`;
    const origin = request.headers.get("origin");
    if (origin !== null) {
      const sameOrigin = origin !== "null" && originHost(origin) === url.host.toLowerCase();
      return sameOrigin || granted.has(origin) ? null : `cross-origin request from ${origin} refused (CORS_ORIGINS grants an origin)`;
    }
    const site = request.headers.get("sec-fetch-site");
    const navigation = request.headers.get("sec-fetch-mode") === "navigate" && request.method === "GET";
    if ((site === "cross-site" || site === "same-site") && !navigation) return `cross-site request refused (Sec-Fetch-Site: ${site})`;
    return null;
  };
}

/**
 * Who may talk to the service (SPEC.md §9), decided before yoga parses anything:
 * - a `Host` that is not one of the service's names is refused (DNS rebinding);
 * - a request carrying a foreign `Origin` is refused, preflights included, unless the origin
 *   is in CORS_ORIGINS, which alone get CORS headers (yoga's own CORS, which grants every
 *   origin, is off);
 * - a cross-site request without an Origin (an `<img>` or `<script>` of another site, which
 *   browsers mark with `Sec-Fetch-Site`) is refused too; following a link is not.
 * Yoga serves GraphiQL before any plugin runs, so its page option asks `refusal` as well.
 */
export function useRequestGuard(config: Config, refusal: RequestRefusal): Plugin {
  const corsOptions: CORSOptions = {
    credentials: true,
    methods: ["GET", "POST", "OPTIONS"],
    allowedHeaders: ["content-type", "accept", "authorization", "x-request-id", "x-graphql-yoga-csrf", "graphql-client-name"],
    maxAge: 600,
  };
  const corsGrants = new WeakMap<Request, Record<string, string>>();
  const hasToken = tokenCheckFor(config);
  return {
    onRequest({ request, url, fetchAPI, endResponse }) {
      const reason = refusal(request);
      if (reason !== null) {
        endResponse(new fetchAPI.Response(`${reason}\n`, { status: 403, headers: { "content-type": "text/plain; charset=utf-8" } }));
        return;
      }
      // Off loopback, a multipart body (an upload: only addImages takes one, a mutation) needs the
      // token before a byte of it is staged: without this, anyone reaching the port could write
      // MAX_UPLOAD_BYTES per request into $DATA_DIR/.uploads, only to be refused afterwards.
      if (isMultipart(request) && !hasToken(request)) {
        const text = "uploads need Authorization: Bearer <API_TOKEN> when the service is not bound to loopback\n";
        endResponse(
          new fetchAPI.Response(text, { status: 401, headers: { "content-type": "text/plain; charset=utf-8", connection: "close" } }),
        );
        return;
      }
      const origin = request.headers.get("origin");
      if (origin === null || originHost(origin) === url.host.toLowerCase() || !config.corsOrigins.includes(origin)) return;
      const headers = getCORSHeadersByRequestAndOptions(request, { ...corsOptions, origin: [origin] }) ?? {};
      if (request.method === "OPTIONS") endResponse(new fetchAPI.Response(null, { status: 204, headers }));
      else corsGrants.set(request, headers);
    },
    onResponse({ request, response }) {
      const headers = corsGrants.get(request);
      if (headers) for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
    },
  };
}

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return null;
  }
}

/** Whether a request may do what needs the token: always on loopback, elsewhere with `Authorization: Bearer <API_TOKEN>`. */
export function tokenCheckFor(config: Config): (request: Request) => boolean {
  const required = !isLoopbackHost(config.host);
  const expected = config.apiToken ? Buffer.from(`Bearer ${config.apiToken}`) : undefined;
  return (request) => {
    if (!required) return true;
    const given = Buffer.from(request.headers.get("authorization") ?? "");
    return expected !== undefined && given.length === expected.length && timingSafeEqual(given, expected);
  };
}

/** Off loopback, a mutation or subscription needs `Authorization: Bearer <API_TOKEN>`; queries stay open. */
export function useOperationToken(config: Config): Plugin<GraphQLContext> {
  const hasToken = tokenCheckFor(config);
  const refusal = () => ({
    errors: [
      new GraphQLError("mutations and subscriptions need Authorization: Bearer <API_TOKEN> when the service is not bound to loopback", {
        extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
      }),
    ],
  });
  const allowed = (context: { request: Request }, document: Parameters<typeof getOperationAST>[0], operationName?: string | null) =>
    getOperationAST(document, operationName)?.operation === "query" || hasToken(context.request);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (!allowed(args.contextValue, args.document, args.operationName)) setResultAndStopExecution(refusal());
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      if (!allowed(args.contextValue, args.document, args.operationName)) setResultAndStopExecution(refusal());
    },
  };
}
