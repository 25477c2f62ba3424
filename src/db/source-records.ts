/**
 * The source_files table: each manifest-like file as this service last read or wrote it
 * (size, mtime, content hash, the problems that kept it out), so an import skips unchanged
 * files and an export refuses to replace what another tool edited.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import { sourceFiles, type SourceFileRow } from "./schema.ts";
import type { Db } from "./store.ts";

export function sourceFilesByPath(db: Db): Map<string, SourceFileRow> {
  return new Map(
    db
      .select()
      .from(sourceFiles)
      .all()
      .map((row) => [row.path, row]),
  );
}

/** The files that belong to an actor, by path. */
export function sourceFilesOfActor(db: Db, actorId: number): SourceFileRow[] {
  return db.select().from(sourceFiles).where(eq(sourceFiles.actorId, actorId)).orderBy(asc(sourceFiles.path)).all();
}

/** The path of the format A manifest recorded for an actor, if any. */
export function formatAPathRecorded(db: Db, actorId: number): string | undefined {
  return db
    .select()
    .from(sourceFiles)
    .where(and(eq(sourceFiles.actorId, actorId), eq(sourceFiles.format, "format_a")))
    .get()?.path;
}

/** A write of this service, read back: the file is now this content, imported cleanly. */
export function recordSourceWritten(db: Db, row: Omit<SourceFileRow, "importedAt">): void {
  db.insert(sourceFiles)
    .values(row)
    .onConflictDoUpdate({ target: sourceFiles.path, set: { ...row, importedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))` } })
    .run();
}

/** Forgets a legacy response.json moved aside, so no stale record points at it. */
export function forgetResponseSource(db: Db, path: string): void {
  db.delete(sourceFiles)
    .where(and(eq(sourceFiles.path, path), eq(sourceFiles.format, "response")))
    .run();
}
