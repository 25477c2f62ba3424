import { lexicographicSortSchema, printSchema } from "graphql";
import { schema } from "./index.ts";

/** The committed `schema.graphql` text: sorted, so that only real changes show in review. */
export function printSchemaFile(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
