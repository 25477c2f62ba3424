import SchemaBuilder, { BasePlugin, type PothosInputFieldConfig, type SchemaTypes } from "@pothos/core";
import ComplexityPlugin from "@pothos/plugin-complexity";
import DataloaderPlugin from "@pothos/plugin-dataloader";
import ErrorsPlugin from "@pothos/plugin-errors";
import RelayPlugin from "@pothos/plugin-relay";
import { GraphQLError } from "graphql";
import type { GraphQLContext } from "./context.ts";

/** Highest `first` a connection accepts; together with the cost limit it bounds one request's work. */
export const maxPageSize = 500;
export const defaultPageSize = 50;

/** Pages go forward only (`first`, `after`): the relay plugin's `last` and `before` arguments are left out of every connection. */
class ForwardPagingPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override onInputFieldConfig(fieldConfig: PothosInputFieldConfig<Types>) {
    return fieldConfig.kind === "Arg" && (fieldConfig.name === "last" || fieldConfig.name === "before") ? null : fieldConfig;
  }
}

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      forwardPaging: ForwardPagingPlugin<Types>;
    }
  }
}

SchemaBuilder.registerPlugin("forwardPaging", ForwardPagingPlugin);

// The errors plugin must come before the dataloader plugin (Pothos docs).
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Connection: { totalCount: () => number | Promise<number> };
  Scalars: { File: { Input: File; Output: never }; DateTime: { Input: Date; Output: Date | string } };
}>({
  plugins: [ErrorsPlugin, DataloaderPlugin, RelayPlugin, ComplexityPlugin, "forwardPaging"],
  defaultFieldNullability: false,
  errors: { defaultTypes: [] },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    pageInfoTypeOptions: { description: "Where a page sits in its list (Relay cursor pagination)." },
    pageInfoFieldOptions: { description: "Cursors and flags for fetching the next page." },
    cursorFieldOptions: { description: "Opaque position of this edge; pass it as `after` to continue from here." },
    nodeFieldOptions: { nullable: false, description: "The item at this position." },
    edgesFieldOptions: { nullable: false, description: "The items of this page with their cursors." },
    nodesOnConnection: { description: "The items of this page, without cursors (`edges { node }` in short)." },
    hasNextPageFieldOptions: { description: "True when another page follows this one." },
    hasPreviousPageFieldOptions: { description: "True when this page does not start at the beginning of the list." },
    startCursorFieldOptions: { description: "Cursor of the first item of this page." },
    endCursorFieldOptions: { description: "Cursor of the last item of this page; pass it as `after` for the next page." },
    firstArgOptions: { description: `How many items to return (at most ${maxPageSize}; default ${defaultPageSize}).` },
    afterArgOptions: { description: "Return the items after this cursor (an `endCursor` from a previous page)." },
  },
  // Costs only: the limit is enforced per request, before execution, by useQueryCostLimit (query-cost.ts).
  complexity: {
    defaultComplexity: 1,
    // Connections multiply by their `first`; other lists here are short (generations, groups).
    defaultListMultiplier: 1,
  },
});

builder.queryType({ description: "Reads from SQLite only: no hashing, no S3 call, no directory walk." });
builder.mutationType({ description: "Operations that change the database, the manifests on disk, or S3." });
builder.scalarType("File", {
  description: "A file sent in a multipart request (GraphQL multipart request spec); input only.",
  serialize: () => {
    throw new Error("File is an input-only scalar");
  },
});

const zoneSuffix = /(Z|[+-]\d{2}:?\d{2})$/i;
const answeredForm = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The instant a recorded time names; manifests write times without a zone (Python's naive isoformat) in UTC. */
export function instantOf(text: string): Date {
  const date = new Date(zoneSuffix.test(text) || !text.includes("T") ? text : `${text}Z`);
  if (Number.isNaN(date.getTime())) throw new TypeError(`not an ISO 8601 time: ${JSON.stringify(text)}`);
  return date;
}

builder.scalarType("DateTime", {
  description:
    "An instant in ISO 8601 with its zone. Answers are in UTC (`2025-06-01T10:00:00.000Z`); arguments take any zone (`2025-06-01T12:00:00+02:00`) or a date alone (midnight UTC).",
  // A time recorded in the answered form already is answered as it is, without a Date and a new string per field.
  serialize: (value) =>
    typeof value === "string" && answeredForm.test(value)
      ? value
      : (value instanceof Date ? value : instantOf(String(value))).toISOString(),
  parseValue: (value) => {
    if (typeof value === "string" && (zoneSuffix.test(value) || !value.includes("T"))) {
      const date = new Date(value);
      if (!Number.isNaN(date.getTime())) return date;
    }
    throw new GraphQLError(`DateTime takes an ISO 8601 time with a zone, e.g. "2025-06-01T10:00:00Z"; got ${JSON.stringify(value)}`, {
      extensions: { code: "BAD_USER_INPUT" },
    });
  },
});
builder.subscriptionType({
  description: "Live views over server-sent events (`Accept: text/event-stream`): job progress and actor changes.",
});

builder.globalConnectionField("totalCount", (t) =>
  t.int({
    description: "How many items the whole list holds (all pages), under the same filter.",
    complexity: 5,
    resolve: (parent) => parent.totalCount(),
  }),
);
