// In plain JavaScript because the md5 worker threads check folders too, before they list one
// (safe-files.ts holds the rest of the rule and re-exports these).
import { lstatSync, mkdirSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";

export const symlinkReason = "is a symbolic link (never followed)";

/** A path the service refuses to follow or touch: a symbolic link, or not a regular file or folder. */
export class UnsafePathError extends Error {
  name = "UnsafePathError";
  /**
   * @param {string} path
   * @param {string} reason
   */
  constructor(path, reason) {
    super(`${path}: ${reason}`);
    /** @readonly */
    this.path = path;
    /** @readonly */
    this.reason = reason;
  }
}

/**
 * Checks every folder from `root` (excluded) down to `folder` with lstat, creating the missing
 * ones one at a time when `create` (mkdir -p would follow a link): true when all are real folders,
 * false when one is missing. Throws UnsafePathError naming the first that is outside the data
 * directory, a link or not a folder.
 * @param {string} root
 * @param {string} folder
 * @param {boolean} create
 * @returns {boolean}
 */
export function walkFolders(root, folder, create) {
  const below = relative(root, folder);
  if (below.startsWith("..") || isAbsolute(below)) throw new UnsafePathError(folder, "is outside the data directory");
  let current = root;
  for (const part of below.split(sep).filter(Boolean)) {
    current = join(current, part);
    let stats = lstatSync(current, { throwIfNoEntry: false });
    if (!stats && create) {
      try {
        mkdirSync(current);
      } catch (error) {
        if (/** @type {NodeJS.ErrnoException} */ (error).code !== "EEXIST") throw error;
      }
      stats = lstatSync(current, { throwIfNoEntry: false });
    }
    if (!stats) return false;
    if (stats.isSymbolicLink()) throw new UnsafePathError(current, symlinkReason);
    if (!stats.isDirectory()) throw new UnsafePathError(current, "is not a folder");
  }
  return true;
}
