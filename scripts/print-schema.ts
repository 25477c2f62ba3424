import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { printSchemaFile } from "../src/schema/print.ts";

// Writes schema.graphql at the repository root; a test fails when the committed copy drifts.
const target = resolve(import.meta.dirname, "../schema.graphql");
writeFileSync(target, printSchemaFile());
console.error(`wrote ${target}`);
