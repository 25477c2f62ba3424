import { expect } from "vitest";
import { graphqlEndpoint, type Api } from "../../src/server.ts";

export interface SseEvent {
  event: string;
  data: any;
}

/** Opens a GraphQL subscription over server-sent events through `api.fetch`, as a browser's EventSource client would. */
export async function subscribeSse(api: Api, query: string, variables?: Record<string, unknown>) {
  const response = await api.fetch(`http://127.0.0.1${graphqlEndpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ query, variables }),
  });
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const queued: SseEvent[] = [];
  return {
    /** The next event (`next` with its data, or `complete`); null when the stream ended. */
    async next(): Promise<SseEvent | null> {
      for (;;) {
        if (queued.length > 0) return queued.shift()!;
        const separator = buffer.indexOf("\n\n");
        if (separator >= 0) {
          const block = buffer.slice(0, separator);
          buffer = buffer.slice(separator + 2);
          const lines = block.split("\n");
          const event = lines
            .find((line) => line.startsWith("event:"))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trim())
            .join("\n");
          // Lines starting with ":" are keep-alive comments.
          if (event) queued.push({ event, data: data ? JSON.parse(data) : null });
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    async close() {
      await reader.cancel();
    },
  };
}
