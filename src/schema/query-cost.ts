import { createComplexityRule } from "@pothos/plugin-complexity";
import { type DocumentNode, GraphQLError, type GraphQLSchema, validate } from "graphql";
import type { Plugin } from "graphql-yoga";
import { countActors } from "../db/actor-queries.ts";
import { imageCountFromStatistics, imageSelectionScans } from "../db/image-queries.ts";
import { catalogueSize } from "../db/statistics.ts";
import type { GraphQLContext } from "./context.ts";
import { connectionComplexity } from "./cursor.ts";
import { type ActorFilterArg, type ImageFilterArg, toActorFilter, toImageFilter } from "./inputs.ts";

/**
 * What a query may cost before it runs. A field costs one point (times `first` inside a
 * connection); a field that has to scan a table costs one point per `scannedRowsPerPoint`
 * rows of that table, so its cost grows with the data as its work does. Measured on the
 * 10,000 × 50 bench data: a resolved field takes about 10 µs, a scanned image row about 1 µs.
 */
export const maxQueryCost = 120_000;
export const scannedRowsPerPoint = 10;
/** Aliases multiply any field at no cost to the client; ordinary queries use a few. */
export const maxAliases = 15;
/** GraphiQL's default query is about 120 tokens, its introspection query about 180. */
export const maxTokens = 1_000;

/** The part of the request context cost rules read: table sizes, never rows. */
type CostContext = Pick<GraphQLContext, "app">;

function scanCost(rows: number): number {
  return Math.ceil(rows / scannedRowsPerPoint);
}

/** `images` across actors: its page, plus the images table when no index serves its filters. */
export function imagesCost(
  args: { first?: number | null; filter?: ImageFilterArg | null; actorFilter?: ActorFilterArg | null },
  ctx: CostContext,
) {
  const page = connectionComplexity(args);
  if (!imageSelectionScans(toImageFilter(args.filter), toActorFilter(args.actorFilter))) return page;
  return { ...page, field: page.field + scanCost(imageCountFromStatistics(ctx.app.db, undefined)) };
}

/** `actors`: its page, plus the actors table when a filter or an unindexed order has to read it all. */
export function actorsCost(
  args: { first?: number | null; filter?: ActorFilterArg | null; orderBy?: { field: string } | null },
  ctx: CostContext,
) {
  const page = connectionComplexity(args);
  const filtered = Object.keys(toActorFilter(args.filter) ?? {}).length > 0;
  const indexedOrder = !args.orderBy || args.orderBy.field === "name" || args.orderBy.field === "goodCount";
  if (!filtered && indexedOrder) return page;
  return { ...page, field: page.field + scanCost(countActors(ctx.app.db, undefined)) };
}

/**
 * `stats` reads the per-actor statistics: the actors table, once per `stats` field (its figures
 * are then cached until a write); with an image filter its figures read the images table.
 */
export function statsCost(args: { imageFilter?: ImageFilterArg | null }, ctx: CostContext): number {
  const imageFilter = toImageFilter(args.imageFilter);
  const images = imageFilter && Object.keys(imageFilter).length > 0 ? scanCost(imageCountFromStatistics(ctx.app.db, undefined)) : 0;
  return 1 + scanCost(countActors(ctx.app.db, undefined)) + images;
}

/** A figure read from every image row (duplicates group them by MD5; generation-type breakdowns join them): the images table. */
export function imageTableCost(ctx: CostContext): number {
  return 1 + scanCost(imageCountFromStatistics(ctx.app.db, undefined));
}

/**
 * Refuses an operation whose cost is over `maxQueryCost` before any resolver runs, with the
 * cost and the limit in the error. It runs per request, not in yoga's validation step, whose
 * results are cached per document: the cost depends on the variables and on the data.
 */
export function useQueryCostLimit(): Plugin<GraphQLContext> {
  // The cost functions above read nothing but the two table sizes, so a verdict holds for the
  // same document, variables and sizes: a repeated query (the page's, a script's) skips the walk.
  const verdicts = new WeakMap<DocumentNode, Map<string, readonly GraphQLError[]>>();
  const refusal = (
    schema: GraphQLSchema,
    document: DocumentNode,
    context: GraphQLContext,
    variables: unknown,
    operationName?: string | null,
  ) => {
    const key = `${catalogueSize(context.app.db)}:${operationName ?? ""}:${JSON.stringify(variables ?? {})}`;
    let known = verdicts.get(document);
    if (!known) verdicts.set(document, (known = new Map()));
    let errors = known.get(key);
    if (!errors) {
      errors = costErrors(schema, document, context, variables, operationName);
      if (known.size >= 64) known.clear();
      known.set(key, errors);
    }
    return errors.length > 0 ? { errors } : undefined;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = refusal(args.schema, args.document, args.contextValue, args.variableValues, args.operationName);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = refusal(args.schema, args.document, args.contextValue, args.variableValues, args.operationName);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}

function costErrors(
  schema: GraphQLSchema,
  document: DocumentNode,
  context: GraphQLContext,
  variables: unknown,
  operationName?: string | null,
) {
  return validate(schema, document, [
    createComplexityRule({
      context,
      variableValues: (variables ?? {}) as Record<string, unknown>,
      operationName,
      validate: ({ complexity }, report) => {
        if (complexity > maxQueryCost) report(tooCostly(complexity));
      },
    }),
  ]);
}

function tooCostly(cost: number): GraphQLError {
  const points = (n: number) => n.toLocaleString("en-US");
  return new GraphQLError(
    `Query complexity ${points(cost)} is over the limit of ${points(maxQueryCost)}. A field costs 1 point, times \`first\` in a list; ` +
      `a filter that no index serves costs 1 point per ${scannedRowsPerPoint} rows of the table it scans. ` +
      "Ask for fewer aliases or smaller pages, or name the actors.",
    { extensions: { code: "QUERY_TOO_COMPLEX", cost, maxCost: maxQueryCost } },
  );
}
