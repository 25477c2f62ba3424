// In plain JavaScript because the md5 worker threads check folders too, before they list one
// (safe-files.ts gives the rule its errors on the main thread).
import { lstatSync, mkdirSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";

export const symlinkReason = "is a symbolic link (never followed)";

/**
 * Walks the folders from `root` (excluded) down to `folder` with lstat, creating the missing ones
 * one at a time when `create` (mkdir -p would follow a link). Answers the first that is outside
 * the data directory, a link or not a folder, with why; "missing" when one does not exist; null
 * when every one is a real folder.
 * @param {string} root
 * @param {string} folder
 * @param {boolean} create
 * @returns {{ path: string, reason: string } | "missing" | null}
 */
export function unrealFolder(root, folder, create) {
  const below = relative(root, folder);
  if (below.startsWith("..") || isAbsolute(below)) return { path: folder, reason: "is outside the data directory" };
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
    if (!stats) return "missing";
    if (stats.isSymbolicLink()) return { path: current, reason: symlinkReason };
    if (!stats.isDirectory()) return { path: current, reason: "is not a folder" };
  }
  return null;
}
