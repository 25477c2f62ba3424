// The digest of a training folder's image files, in plain JavaScript because both sides use it:
// the md5 worker threads, and the main thread when they have not started (md5-pool.ts folderDigest).
import { createHash } from "node:crypto";
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { withRealFolder } from "../files/real-folders.mjs";

/** The digest of a folder that does not exist. */
export const absentDigest = "absent";

/**
 * File timestamps tick coarser than they print (Linux stamps them from a clock that moves every
 * 1–10 ms): within this much of now, an unchanged stat does not prove unchanged content.
 */
const racyWindowMs = 20;

/**
 * Whether a file was stamped within the timestamp granularity of `time` (git's racily-clean case):
 * it could be written again with the same stat, so its stat proves nothing about its content after.
 * The one rule for the folder digest, the hash cache and the mtime an upload records.
 * @param {{ mtimeMs: number, ctimeMs: number }} stat
 * @param {number} time
 */
export function stampedNear(stat, time) {
  return Math.max(stat.mtimeMs, stat.ctimeMs) >= time - racyWindowMs;
}

/**
 * A folder's entries, the lstat of its image files (by name, in name order; undefined when gone
 * since the listing) and the image entries that are symbolic links; null when there is no folder.
 * @param {string} folder
 * @param {RegExp} imagePattern
 */
export function listImages(folder, imagePattern) {
  /** @type {string[]} */
  let names;
  try {
    names = readdirSync(folder);
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === "ENOENT") return null;
    throw error;
  }
  /** @type {Map<string, import("node:fs").Stats | undefined>} */
  const images = new Map();
  for (const name of names.filter((entry) => imagePattern.test(entry)).sort())
    images.set(name, lstatSync(join(folder, name), { throwIfNoEntry: false }));
  const links = [...images].filter(([, stat]) => stat?.isSymbolicLink()).map(([name]) => name);
  return { names, images, links };
}

/**
 * Digest of a folder's image files: name, type, size, mtime, ctime and inode of each, in
 * name order. Equal digests mean no image file was added, removed, replaced or written
 * (a write moves ctime, which no tool can set back).
 * @param {Map<string, import("node:fs").Stats | undefined>} images
 */
export function digestOf(images) {
  // A file written within the timestamp granularity of now could be written again with the
  // same stat (git's racily-clean case): such a folder gets a digest that never matches.
  const now = Date.now();
  let text = "";
  for (const [name, stat] of images) {
    if (stat && stampedNear(stat, now)) return `racy-${now}-${Math.random()}`;
    text += stat
      ? `${name}\0${stat.isFile() ? "f" : "o"}\0${stat.size}\0${stat.mtimeMs}\0${stat.ctimeMs}\0${stat.ino}\n`
      : `${name}\0gone\n`;
  }
  return createHash("md5").update(text).digest("hex");
}

/**
 * The digest of the image files in `folder` ("absent" when there is none), with the image
 * entries that are symbolic links (never followed). Throws UnsafePathError when a folder from
 * `root` down to it is a link or no folder: it is not listed.
 * @param {string} root
 * @param {string} folder
 * @param {RegExp} imagePattern
 * @param {Map<string, number>} [held] folders held open for a batch (see withRealFolder)
 * @returns {{ digest: string, links: string[] }}
 */
export function folderDigest(root, folder, imagePattern, held) {
  return withRealFolder(
    root,
    folder,
    (path) => {
      const listing = path === null ? null : listImages(path, imagePattern);
      return { digest: listing ? digestOf(listing.images) : absentDigest, links: listing?.links ?? [] };
    },
    held,
  );
}
