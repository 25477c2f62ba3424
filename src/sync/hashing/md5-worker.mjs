// Worker of md5-pool.ts: hashes files, and lists and stats folders. Plain JavaScript on purpose: a worker thread does not
// inherit tsx's loader (neither under `tsx` nor under vitest), and a .mjs file needs none.
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";

const bufferSize = workerData?.bufferSize ?? 1 << 20;
const buffer = Buffer.allocUnsafe(bufferSize);
const imagePattern = new RegExp(workerData?.imagePattern?.source ?? "$^", workerData?.imagePattern?.flags);

/**
 * One pass over the file: the whole-file MD5 and, for each requested part size, the
 * multipart ETag S3 would give it (md5 of the concatenated part MD5s, then `-N`).
 * @param {{ id: number, path: string, partSizes: number[] }} job
 */
function hashFile(job) {
  const fd = openRegularFile(job.path);
  try {
    // Stat the open descriptor before reading: if the file changes while being read its
    // mtime moves past this one, so the hash cache will not trust this result next time.
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error("is not a regular file");
    const whole = createHash("md5");
    const parts = job.partSizes.map((partSize) => ({
      partSize,
      hash: createHash("md5"),
      filled: 0,
      digests: /** @type {Buffer[]} */ ([]),
    }));
    let bytesRead = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, bufferSize, null);
      if (n === 0) break;
      // A short read of a regular file is its end: no extra read(2) that returns 0.
      const atEnd = n < bufferSize && bytesRead + n >= stat.size;
      bytesRead += n;
      const chunk = n === bufferSize ? buffer : buffer.subarray(0, n);
      whole.update(chunk);
      for (const part of parts) {
        let offset = 0;
        while (offset < n) {
          const take = Math.min(part.partSize - part.filled, n - offset);
          part.hash.update(chunk.subarray(offset, offset + take));
          part.filled += take;
          offset += take;
          if (part.filled === part.partSize) {
            part.digests.push(part.hash.digest());
            part.hash = createHash("md5");
            part.filled = 0;
          }
        }
      }
      if (atEnd) break;
    }
    /** @type {Record<string, string>} */
    const multipartEtags = {};
    for (const part of parts) {
      if (part.filled > 0 || part.digests.length === 0) part.digests.push(part.hash.digest());
      const etag = createHash("md5").update(Buffer.concat(part.digests)).digest("hex");
      multipartEtags[String(part.partSize)] = `${etag}-${part.digests.length}`;
    }
    return {
      id: job.id,
      md5: whole.digest("hex"),
      multipartEtags,
      bytesRead,
      size: stat.size,
      mtimeMs: stat.mtimeMs,
      ctimeMs: stat.ctimeMs,
      inode: stat.ino,
    };
  } finally {
    closeSync(fd);
  }
}

// The rule of safe-files.ts (which this plain-JavaScript worker cannot import): never through a
// link, even one swapped in since the folder was listed; O_NONBLOCK so that a FIFO does not hang.
const readFlags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** @param {string} path */
function openRegularFile(path) {
  try {
    return openSync(path, readFlags);
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === "ELOOP")
      throw Object.assign(new Error("is a symbolic link (never followed)"), { code: "ELOOP" });
    throw error;
  }
}

/**
 * A folder's entries, the stat of some files in it ([size, mtimeMs, ctimeMs, ino], or
 * null when missing or not a regular file: a link is not followed), the image entries that
 * are symbolic links, and the digest of its image files (see folderDigest). The caller has
 * checked each filename is one safe path segment, and that the folder is no link.
 * @param {{ id: number, folder: string, filenames: string[] }} job
 */
function statFolder(job) {
  const listing = listImages(job.folder);
  if (!listing)
    return {
      id: job.id,
      kind: "statFolder",
      exists: false,
      names: [],
      links: [],
      stats: job.filenames.map(() => null),
      digest: absentDigest,
    };
  const present = new Set(listing.names);
  const stats = job.filenames.map((filename) => {
    if (!present.has(filename)) return null;
    const stat = listing.images.get(filename) ?? statOf(join(job.folder, filename));
    return stat?.isFile() ? [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino] : null;
  });
  return {
    id: job.id,
    kind: "statFolder",
    exists: true,
    names: listing.names,
    links: listing.links,
    stats,
    digest: digestOf(listing.images),
  };
}

/**
 * Digest of a folder's image files: name, type, size, mtime, ctime and inode of each, in
 * name order. Equal digests mean no image file was added, removed, replaced or written
 * (a write moves ctime, which no tool can set back). With it, the image entries that are links.
 * @param {{ id: number, folder: string }} job
 */
function folderDigest(job) {
  const listing = listImages(job.folder);
  return { id: job.id, kind: "folderDigest", digest: listing ? digestOf(listing.images) : absentDigest, links: listing?.links ?? [] };
}

const absentDigest = "absent";

/**
 * File timestamps tick coarser than they print (Linux stamps them from a clock that moves every
 * 1–10 ms): within this much of now, an unchanged stat does not prove unchanged content (hash-cache.ts has the twin).
 */
const racyWindowMs = 20;

/** @param {string} folder */
function listImages(folder) {
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
  for (const name of names.filter((entry) => imagePattern.test(entry)).sort()) images.set(name, statOf(join(folder, name)));
  const links = [...images].filter(([, stat]) => stat?.isSymbolicLink()).map(([name]) => name);
  return { names, images, links };
}

/** @param {string} path */
function statOf(path) {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** @param {Map<string, import("node:fs").Stats | undefined>} images */
function digestOf(images) {
  // A file written within the timestamp granularity of now could be written again with the
  // same stat (git's racily-clean case): such a folder gets a digest that never matches.
  const racyAfter = Date.now() - racyWindowMs;
  let text = "";
  for (const [name, stat] of images) {
    if (stat && Math.max(stat.mtimeMs, stat.ctimeMs) >= racyAfter) return `racy-${racyAfter}-${Math.random()}`;
    text += stat
      ? `${name}\0${stat.isFile() ? "f" : "o"}\0${stat.size}\0${stat.mtimeMs}\0${stat.ctimeMs}\0${stat.ino}\n`
      : `${name}\0gone\n`;
  }
  return createHash("md5").update(text).digest("hex");
}

function answer(job) {
  try {
    if (job.kind === "statFolder") return statFolder(job);
    if (job.kind === "folderDigest") return folderDigest(job);
    return { kind: "hash", ...hashFile(job) };
  } catch (error) {
    const err = /** @type {NodeJS.ErrnoException} */ (error);
    return { id: job.id, error: { message: err.message, code: err.code } };
  }
}

// A message is one job or a list of them (folder stats go several to a message); the answer has the same shape.
parentPort?.on("message", (message) => {
  parentPort?.postMessage(Array.isArray(message) ? message.map(answer) : answer(message));
});
