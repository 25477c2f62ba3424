import { type Api, graphqlEndpoint } from "../../src/server.ts";

/** Posts a query to the API through yoga's fetch and returns its data; any GraphQL error fails the test. */
export async function graphqlData<T = any>(api: Api, query: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await api.fetch(`http://127.0.0.1${graphqlEndpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data!;
}
