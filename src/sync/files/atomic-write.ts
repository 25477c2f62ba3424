import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { processRuns } from "../../db/process-lease.ts";
import { assertPlaceable, newFileFlags } from "./safe-files.ts";

/**
 * Replaces a file atomically (SPEC.md §3): temporary file in the same folder, fsync,
 * rename over the target, then fsync of the folder so the rename itself survives a
 * power cut. write-file-atomic skips that last step, hence this small function.
 * A crash at any point leaves either the old or the new content, never a mix. Nothing is
 * written through a link (SPEC.md §3): the folders under `root` and the target's place are
 * checked before the temporary file is created and again right before the rename.
 */
export function writeFileAtomic(root: string, path: string, content: string | Buffer, hooks: AtomicWriteHooks = {}): void {
  const folder = dirname(path);
  assertPlaceable(root, path);
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(temporary, newFileFlags, 0o644);
  try {
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    hooks.beforeRename?.(temporary);
    assertPlaceable(root, path);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  const folderFd = openSync(folder, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fsyncSync(folderFd);
  } finally {
    closeSync(folderFd);
  }
}

/** `.{name}.{pid}.{8 hex}.tmp`, as writeFileAtomic names its temporary files. */
const temporaryName = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Whether a folder entry is the temporary file of an atomic write whose process was killed
 * (the write never happened: the target still holds the old content). One whose process
 * still runs is a write in progress.
 */
export function isAbandonedTemporaryFile(entry: string): boolean {
  const pid = temporaryName.exec(entry)?.[1];
  return pid !== undefined && !processRuns(Number(pid));
}

/** Test seam: runs between the fsync of the temporary file and the rename. */
export interface AtomicWriteHooks {
  beforeRename?: (temporaryPath: string) => void;
}
