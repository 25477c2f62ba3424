import { and, inArray, isNotNull } from "drizzle-orm";
import { sourceFiles } from "./schema.ts";
import type { Db } from "./store.ts";

/** Something wrong with a file about an actor: which file, where in it, and why (SPEC.md §3). */
export interface SourceProblem {
  file: string;
  jsonPath: string;
  reason: string;
}

/** The problems a `source_files.error` holds: a JSON list (one object in databases written before entries were checked one by one). */
export function storedSourceProblems(error: string | null): SourceProblem[] {
  if (error === null) return [];
  const value = JSON.parse(error) as SourceProblem | SourceProblem[];
  return Array.isArray(value) ? value : [value];
}

/** Each actor's file problems (`Actor.problems`), in key order, files by path. */
export function problemsByActor(db: Db, actorIds: readonly number[]): SourceProblem[][] {
  const rows = db
    .select({ actorId: sourceFiles.actorId, path: sourceFiles.path, error: sourceFiles.error })
    .from(sourceFiles)
    .where(and(inArray(sourceFiles.actorId, [...actorIds]), isNotNull(sourceFiles.error)))
    .orderBy(sourceFiles.path)
    .all();
  const byActor = new Map<number, SourceProblem[]>();
  for (const row of rows) byActor.set(row.actorId!, [...(byActor.get(row.actorId!) ?? []), ...storedSourceProblems(row.error)]);
  return actorIds.map((id) => byActor.get(id) ?? []);
}
