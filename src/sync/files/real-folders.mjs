// In plain JavaScript because the md5 worker threads check folders too, and hold them open while
// they read them (safe-files.ts holds the rest of the rule and re-exports these).
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync } from "node:fs";
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
  let current = root;
  for (const part of foldersBelow(root, folder)) {
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

// Linux names an open folder's descriptor as a path, /proc/self/fd/N, and looks up a name below it
// from that folder, wherever its path points by now: what openat(2) does, which Node lacks.
const descriptorPaths = existsSync("/proc/self/fd");
const folderFlags = constants.O_RDONLY | constants.O_DIRECTORY;

/**
 * Runs `read` on `folder` held open, so that a link swapped in for it or for a folder above it
 * after the check cannot redirect what is read (the checked path would be resolved again by
 * name). Each folder from `root` (which may itself be a link: the user's choice of where the data
 * lives) down is opened through the descriptor of the one above, with O_NOFOLLOW; `read` gets the
 * path to read below (the last descriptor's), or null when a folder on the way is missing. An
 * error of `read` names `folder`, not the descriptor. Without /proc: `walkFolders`, then the
 * path itself. Throws UnsafePathError naming the first link or file on the way.
 *
 * `held` keeps the descriptors open for a batch of reads (one worker message: 25 folders share the
 * data directory and `actors`), by path; the caller closes them (`closeHeld`). Without it, each is
 * closed before this returns.
 * @template T
 * @param {string} root
 * @param {string} folder
 * @param {(path: string | null) => T} read
 * @param {Map<string, number>} [held]
 * @returns {T}
 */
export function withRealFolder(root, folder, read, held) {
  if (!descriptorPaths) return read(walkFolders(root, folder, false) ? folder : null);
  const parts = foldersBelow(root, folder);
  const owned = held ?? new Map();
  /** @type {(path: string, open: () => number) => number} */
  const take = (path, open) => {
    let fd = owned.get(path);
    if (fd === undefined) owned.set(path, (fd = open()));
    return fd;
  };
  try {
    let fd = take(root, () => openSync(root, folderFlags));
    let current = root;
    for (const part of parts) {
      const parent = fd;
      current = join(current, part);
      try {
        fd = take(current, () => openSync(`/proc/self/fd/${parent}/${part}`, folderFlags | constants.O_NOFOLLOW));
      } catch (error) {
        const code = /** @type {NodeJS.ErrnoException} */ (error).code;
        if (code === "ENOENT") return read(null);
        // O_DIRECTORY answers ENOTDIR for a link as for a file (ELOOP on some systems): which one it is only words the refusal.
        if (code === "ELOOP" || code === "ENOTDIR") {
          const link = code === "ELOOP" || lstatSync(`/proc/self/fd/${parent}/${part}`, { throwIfNoEntry: false })?.isSymbolicLink();
          throw new UnsafePathError(current, link ? symlinkReason : "is not a folder");
        }
        throw error;
      }
    }
    const path = `/proc/self/fd/${fd}`;
    try {
      return read(path);
    } catch (error) {
      if (error instanceof Error) error.message = namingFolder(error.message, path, folder);
      throw error;
    }
  } finally {
    if (!held) closeHeld(owned);
  }
}

/**
 * The names of the folders from `root` (excluded) down to `folder`; refused when `folder` is not below `root`.
 * @param {string} root
 * @param {string} folder
 */
function foldersBelow(root, folder) {
  const below = relative(root, folder);
  if (below.startsWith("..") || isAbsolute(below)) throw new UnsafePathError(folder, "is outside the data directory");
  return below.split(sep).filter(Boolean);
}

/**
 * An error message about what was read below a held folder, naming the folder instead of its descriptor's path.
 * @param {string} message
 * @param {string} path the descriptor's path that `withRealFolder` gave its reader
 * @param {string} folder
 */
export function namingFolder(message, path, folder) {
  return message.replaceAll(path, folder);
}

/**
 * Closes the descriptors a batch of `withRealFolder` calls held.
 * @param {Map<string, number>} held
 */
export function closeHeld(held) {
  for (const fd of held.values()) closeSync(fd);
  held.clear();
}
