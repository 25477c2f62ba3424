// The page's only way to the service: GraphQL over fetch (queries, mutations, and
// subscriptions as server-sent events read from a POST), and image bytes. Every request
// carries the CSRF header the service asks of browsers, and the API token when it is bound
// off loopback (kept in sessionStorage: asked once per tab, gone when the tab closes).
import { useEffect, useState } from "preact/hooks";

export const settings = JSON.parse(document.getElementById("settings").textContent);

const tokenKey = "actor-manifests.api-token";

export function apiToken() {
  return sessionStorage.getItem(tokenKey);
}

export function setApiToken(token) {
  if (token) sessionStorage.setItem(tokenKey, token);
  else sessionStorage.removeItem(tokenKey);
  window.dispatchEvent(new Event("api-token-changed"));
}

/** Whether the page must ask for the token before it can change anything. */
export function needsToken() {
  return settings.tokenRequired && !apiToken();
}

function requestHeaders(extra) {
  const headers = { "x-graphql-yoga-csrf": "training-data-page", ...extra };
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  return headers;
}

/** The token was refused: forget it so the page asks again. */
function tokenRefused() {
  setApiToken(null);
  return new Error("the service refused the API token: enter it again");
}

/** Runs a query or mutation; resolves to `data`, rejects with the errors' messages. */
export async function graphql(query, variables = {}) {
  const response = await fetch(settings.graphqlEndpoint, {
    method: "POST",
    headers: requestHeaders({ "content-type": "application/json", accept: "application/json" }),
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw tokenRefused();
  const body = await response.json();
  if (body.errors?.some((error) => error.extensions?.code === "UNAUTHENTICATED")) throw tokenRefused();
  if (body.errors?.length) throw new Error(body.errors.map((error) => error.message).join("; "));
  return body.data;
}

/**
 * A subscription's events, one `data` object each, until the service completes it or
 * `signal` aborts. EventSource cannot send headers, so the stream is a fetch read by hand.
 */
export async function* subscribe(query, variables, signal) {
  const response = await fetch(settings.graphqlEndpoint, {
    method: "POST",
    headers: requestHeaders({ "content-type": "application/json", accept: "text/event-stream" }),
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (response.status === 401) throw tokenRefused();
  if (!response.ok || !response.body) throw new Error(`subscription refused: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
      const lines = block.split("\n");
      if (lines.some((line) => line === "event: complete")) return;
      const data = lines
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      if (!data) continue;
      const payload = JSON.parse(data);
      if (payload.errors?.length) throw new Error(payload.errors.map((error) => error.message).join("; "));
      yield payload.data;
    }
  }
}

export function thumbnailUrl(actorName, image, width) {
  const version = image.md5 ?? "";
  return `${settings.thumbnailPath}${encodeURIComponent(actorName)}/${encodeURIComponent(image.filename)}?w=${width}&v=${version}`;
}

/**
 * An address an <img> can show. On loopback that is the address itself; off loopback the
 * image routes want the token, which an <img> cannot send: the bytes are fetched with it and
 * shown from a blob URL, released when the image leaves the page.
 */
export function useImageSource(url) {
  const direct = !settings.tokenRequired;
  const [source, setSource] = useState(direct ? url : null);
  useEffect(() => {
    if (direct || !url) {
      setSource(direct ? url : null);
      return undefined;
    }
    const controller = new AbortController();
    let blobUrl = null;
    fetch(url, { headers: requestHeaders({}), signal: controller.signal })
      .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((blob) => {
        blobUrl = URL.createObjectURL(blob);
        setSource(blobUrl);
      })
      .catch(() => {});
    return () => {
      controller.abort();
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    };
  }, [url, direct]);
  return source;
}
