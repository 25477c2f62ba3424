import type { z } from "zod";

/** A file that could not be imported: which file, where in it, and why (SPEC.md §3). */
export interface ManifestProblem {
  file: string;
  jsonPath: string;
  reason: string;
}

export class ManifestError extends Error {
  constructor(readonly problem: ManifestProblem) {
    super(`${problem.file}: ${problem.jsonPath}: ${problem.reason}`);
    this.name = "ManifestError";
  }
}

/** `["training_data", 3, "status"]` → `$.training_data[3].status`. */
export function jsonPathOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`;
    const name = String(key);
    return /^[A-Za-z_$][\w$]*$/.test(name) ? `${text}.${name}` : `${text}[${JSON.stringify(name)}]`;
  }, "$");
}

/**
 * Parses with a zod schema; the first issue becomes a ManifestError naming the file and
 * JSON path. `at` is where `value` sits in the file, for parts parsed one by one.
 */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, file: string, at: readonly PropertyKey[] = []): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ManifestError({ file, jsonPath: jsonPathOf([...at, ...issue.path]), reason: describeIssue(issue, value) });
}

/**
 * Validation per entry (SPEC.md §3): parses each `[key, value]` of a list or object with
 * `schema`; the good entries come back, each bad one is added to `problems` (file, JSON
 * path, reason) and left out, so one bad entry never hides the others.
 */
export function parseEntries<K extends PropertyKey, T extends z.ZodType>(
  schema: T,
  entries: Iterable<[K, unknown]>,
  file: string,
  at: readonly PropertyKey[],
  problems: ManifestProblem[],
): [K, z.infer<T>][] {
  const good: [K, z.infer<T>][] = [];
  for (const [key, value] of entries) {
    try {
      good.push([key, parseWith(schema, value, file, [...at, key])]);
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      problems.push(error.problem);
    }
  }
  return good;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  // A refused record key (a format B filename) carries the real reason one level down.
  if (issue.code === "invalid_key" && issue.issues[0]) return `key ${JSON.stringify(issue.path.at(-1))}: ${issue.issues[0].message}`;
  const received = issue.path.reduce<unknown>(
    (node, key) => (node !== null && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[key] : undefined),
    root,
  );
  const text = received === undefined ? undefined : truncate(JSON.stringify(received));
  const shown = text === undefined || issue.message.includes(text) ? "" : ` (got ${text})`;
  return `${issue.message}${shown}`;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
