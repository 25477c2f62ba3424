/**
 * Manifest writes in flight (SPEC.md §7, a crash at any instant): the hash of what is about to
 * replace a manifest is recorded before the rename, and forgotten once `source_files` records
 * the write. A file found holding that content after a crash is this service's own write.
 */
import { eq } from "drizzle-orm";
import { manifestWrites } from "./schema.ts";
import type { Db } from "./store.ts";

export function recordManifestWrite(db: Db, path: string, contentHash: string): void {
  const row = { path, contentHash, startedAt: new Date().toISOString() };
  db.insert(manifestWrites).values(row).onConflictDoUpdate({ target: manifestWrites.path, set: row }).run();
}

export function forgetManifestWrite(db: Db, path: string): void {
  db.delete(manifestWrites).where(eq(manifestWrites.path, path)).run();
}

/** Whether `contentHash` is what a write of `path` that was never recorded as done was writing. */
export function isUnrecordedManifestWrite(db: Db, path: string, contentHash: string): boolean {
  return db.select().from(manifestWrites).where(eq(manifestWrites.path, path)).get()?.contentHash === contentHash;
}
