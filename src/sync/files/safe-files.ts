import { constants, fstatSync, closeSync, lstatSync, openSync, readSync, type Stats } from "node:fs";
import { link, lstat, open, rename, unlink, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { symlinkReason, UnsafePathError, walkFolders } from "./real-folders.mjs";

/**
 * The service reads and writes only regular files inside the data directory (SPEC.md §3).
 * A symbolic link below it, to a file or a folder, is reported and never followed, even
 * one swapped in during an operation: files are opened with O_NOFOLLOW and checked on the
 * descriptor (O_EXCL for new ones), and the folders from the data directory down are
 * checked with lstat right before a file in them is opened, created, renamed or removed.
 * The data directory itself may be a link: it is the user's choice of where the data lives.
 */

export { symlinkReason, UnsafePathError };

// O_NONBLOCK: opening a FIFO put in a file's place must not hang; a regular file ignores it.
const readFlags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Flags of a new file: created here or refused (O_EXCL also refuses a link, even a dangling one). */
export const newFileFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Checks every folder from `root` down to `folder` (root excluded) is a real folder, not a
 * link: true when it exists, false when one is missing. Throws UnsafePathError naming the link.
 */
export function assertRealFolder(root: string, folder: string): boolean {
  return walkFolders(root, folder, false);
}

/** As assertRealFolder, creating the missing folders one at a time (mkdir -p would follow a link). */
export function makeRealFolder(root: string, folder: string): void {
  walkFolders(root, folder, true);
}

/** The lstat of `path`, or null when nothing is there. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** An open regular file and the stat of that very descriptor. */
export interface OpenedFile {
  handle: FileHandle;
  stat: Stats;
}

/** Opens a regular file under `root` for reading: never through a link, never anything but a regular file. */
export async function openRegularFile(root: string, path: string): Promise<OpenedFile> {
  assertRealFolder(root, dirname(path));
  let handle: FileHandle;
  try {
    handle = await open(path, readFlags);
  } catch (error) {
    throw refusalOf(path, error);
  }
  const stat = await handle.stat();
  if (stat.isFile()) return { handle, stat };
  await handle.close();
  throw new UnsafePathError(path, "is not a regular file");
}

/**
 * The content of a regular file, read through a descriptor opened without following a
 * link. The caller has checked its folders (import checks each folder as it lists it).
 */
export function readRegularFileSync(path: string): Buffer {
  return readRegularFileUpTo(path, Number.MAX_SAFE_INTEGER).bytes!;
}

/**
 * The stat of a regular file (opened without following a link) and, when it is at most
 * `limit` bytes, its content, read through that descriptor: both describe the same file.
 * The caller has checked its folders.
 */
export function readRegularFileUpTo(path: string, limit: number): { bytes: Buffer | null; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, readFlags);
  } catch (error) {
    throw refusalOf(path, error);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnsafePathError(path, "is not a regular file");
    return { bytes: stat.size <= limit ? readToEnd(fd, stat.size, limit) : null, stat };
  } finally {
    closeSync(fd);
  }
}

/**
 * The rest of an open file, expected to be `size` bytes, or null once it passes `limit` (it grew
 * since its stat): readFileSync takes a stat of its own, and reads on without a bound while a file
 * that stated 0 bytes is being filled.
 */
function readToEnd(fd: number, size: number, limit: number): Buffer | null {
  // One byte more than expected, so that a file that grew since its stat shows.
  let bytes = Buffer.allocUnsafe(Math.min(size, limit) + 1);
  let length = 0;
  for (;;) {
    if (length === bytes.length) {
      if (length > limit) return null;
      const larger = Buffer.allocUnsafe(Math.min(length * 2, limit + 1));
      bytes.copy(larger, 0, 0, length);
      bytes = larger;
    }
    const read = readSync(fd, bytes, length, bytes.length - length, null);
    if (read === 0) return bytes.subarray(0, length);
    length += read;
  }
}

/** Creates a new file under `root` for writing: refused if anything (a link included) has its name. */
export async function createNewFile(root: string, path: string): Promise<FileHandle> {
  assertRealFolder(root, dirname(path));
  try {
    return await open(path, newFileFlags, 0o644);
  } catch (error) {
    throw refusalOf(path, error);
  }
}

/** What a rename into `target` needs, checked right before it: real folders, and no link in the target's place. */
export function assertPlaceable(root: string, target: string): void {
  if (!assertRealFolder(root, dirname(target))) throw new UnsafePathError(dirname(target), "does not exist");
  if (lstatOrNull(target)?.isSymbolicLink()) throw new UnsafePathError(target, symlinkReason);
}

/**
 * Puts a finished temporary file in place under `root`: renamed over the target when
 * `overwrite`, else linked (which never replaces an existing file) and unlinked; then the
 * folder is fsynced so the change survives a power cut.
 */
export async function placeFile(root: string, temporary: string, target: string, overwrite: boolean): Promise<void> {
  assertPlaceable(root, target);
  if (overwrite) await rename(temporary, target);
  else {
    await link(temporary, target);
    await unlink(temporary);
  }
  await fsyncFolder(dirname(target));
}

/** Removes a regular file under `root` (one already gone is fine); a link in its place is refused, not removed. */
export async function removeRegularFile(root: string, path: string): Promise<void> {
  assertRealFolder(root, dirname(path));
  let stats: Stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (stats.isSymbolicLink()) throw new UnsafePathError(path, symlinkReason);
  if (!stats.isFile()) throw new UnsafePathError(path, "is not a regular file");
  await unlink(path);
}

/** Makes a rename or unlink in `folder` survive a power cut. */
export async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function refusalOf(path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  // ELOOP is what O_NOFOLLOW answers for a link; EEXIST what O_EXCL answers for anything in the way.
  if (code === "ELOOP") return new UnsafePathError(path, symlinkReason);
  if (code === "EEXIST" && lstatOrNull(path)?.isSymbolicLink()) return new UnsafePathError(path, symlinkReason);
  return error;
}
