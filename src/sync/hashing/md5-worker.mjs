// Worker of md5-pool.ts: hashes files, and lists and stats folders. Plain JavaScript on purpose: a worker thread does not
// inherit tsx's loader (neither under `tsx` nor under vitest), and a .mjs file needs none.
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { absentDigest, digestOf, folderDigest, listImages, stampedNear } from "./folder-digest.mjs";
import { closeHeld, namingFolder, UnsafePathError, withRealFolder } from "../files/real-folders.mjs";

const bufferSize = workerData?.bufferSize ?? 1 << 20;
const buffer = Buffer.allocUnsafe(bufferSize);
const imagePattern = new RegExp(workerData?.imagePattern?.source ?? "$^", workerData?.imagePattern?.flags);

/**
 * One pass over the file: the whole-file MD5 and, for each requested part size, the
 * multipart ETag S3 would give it (md5 of the concatenated part MD5s, then `-N`).
 * @param {{ path: string, partSizes: number[] }} job
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
 * checked each filename is one safe path segment; the folder is read held open from the data
 * directory `root` down (withRealFolder: UnsafePathError names a link, and none swapped in later is followed).
 *
 * The same job hashes the files `hashUnless` asks for (see hashStale): one message then carries
 * an actor's files, where a message per file cost the main thread more than the hashing threads
 * could spare.
 * @param {{ id: number, root: string, folder: string, filenames: string[], hashUnless: (number[] | null | 0)[] }} job
 */
function statFolder(job) {
  return withRealFolder(job.root, job.folder, (path) => statHeldFolder(job, path));
}

/**
 * statFolder's work on the folder read at `path` (its descriptor's), null when it is missing.
 * @param {{ id: number, folder: string, filenames: string[], hashUnless: (number[] | null | 0)[] }} job
 * @param {string | null} path
 */
function statHeldFolder(job, path) {
  const listing = path === null ? null : listImages(path, imagePattern);
  if (!listing || path === null)
    return {
      id: job.id,
      kind: "statFolder",
      exists: false,
      names: [],
      links: [],
      stats: job.filenames.map(() => null),
      hashes: job.filenames.map(() => null),
      digest: absentDigest,
    };
  // Before any hashing: the digest's racily-clean rule compares the stats with the time they were taken.
  const digest = digestOf(listing.images);
  const present = new Set(listing.names);
  const stats = job.filenames.map((filename) => {
    if (!present.has(filename)) return null;
    return statArray(listing.images.get(filename) ?? lstatSync(join(path, filename), { throwIfNoEntry: false }));
  });
  return {
    id: job.id,
    kind: "statFolder",
    exists: true,
    names: listing.names,
    links: listing.links,
    stats,
    hashes: hashStale(path, job.folder, job.filenames, stats, job.hashUnless),
    digest,
  };
}

/**
 * The files `hashUnless` asks for, of a folder another job lists: their part of one actor's
 * hashing, so that an actor audited alone is hashed on every thread. Its folders are checked as
 * statFolder's are: none of its files is read through a link.
 * @param {{ id: number, root: string, folder: string, filenames: string[], hashUnless: (number[] | null | 0)[] }} job
 */
function hashFiles(job) {
  return withRealFolder(job.root, job.folder, (path) => {
    if (path === null) return { id: job.id, kind: "hashFiles", hashes: job.filenames.map(() => null) };
    const stats = job.filenames.map((filename) => statArray(lstatSync(join(path, filename), { throwIfNoEntry: false })));
    return { id: job.id, kind: "hashFiles", hashes: hashStale(path, job.folder, job.filenames, stats, job.hashUnless) };
  });
}

/** @param {import("node:fs").Stats | undefined} stat */
function statArray(stat) {
  return stat?.isFile() ? [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino] : null;
}

/**
 * Hashes each present regular file whose `hashUnless` entry is null, or a stat it no longer has
 * (its cached MD5 is stale); an entry of 0 is not hashed. A file that fails is answered with its
 * error, and the others are still hashed (their MD5s reach the cache). `remember` is false for a
 * file stamped near its hashing (see stampedNear): its stat cannot vouch for its content later.
 * @param {string} path where the folder is read (its descriptor's)
 * @param {string} folder the folder's own path, which errors name
 * @param {string[]} filenames
 * @param {(number[] | null)[]} stats
 * @param {(number[] | null | 0)[]} hashUnless
 */
function hashStale(path, folder, filenames, stats, hashUnless) {
  return stats.map((stat, i) => {
    const cached = hashUnless[i];
    if (!stat || cached === 0 || cached === undefined || cached?.every((value, k) => value === stat[k])) return null;
    const startedAt = Date.now();
    try {
      const hash = hashFile({ path: join(path, filenames[i]), partSizes: [] });
      return { ...hash, remember: !stampedNear(hash, startedAt) };
    } catch (error) {
      const { message, code } = describeError(error);
      return { error: { message: namingFolder(message, path, folder), code } };
    }
  });
}

/**
 * @param {any} job
 * @param {Map<string, number>} held the folders this message holds open (see withRealFolder)
 */
function answer(job, held) {
  try {
    if (job.kind === "statFolder") return statFolder(job);
    if (job.kind === "hashFiles") return hashFiles(job);
    if (job.kind === "folderDigest") return { id: job.id, kind: "folderDigest", ...folderDigest(job.root, job.folder, imagePattern, held) };
    // A file asked for alone (after its folder's stat job, maybe long after): its folder is held again.
    return withRealFolder(job.root, dirname(job.path), (path) => {
      if (path === null) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${job.path}'`), { code: "ENOENT" });
      return { id: job.id, kind: "hash", ...hashFile({ ...job, path: join(path, basename(job.path)) }) };
    });
  } catch (error) {
    return { id: job.id, error: describeError(error) };
  }
}

/**
 * What the pool needs to answer an error (a refused folder goes back as UnsafePathError).
 * @param {unknown} error
 */
function describeError(error) {
  if (error instanceof UnsafePathError) return { message: error.message, unsafe: { path: error.path, reason: error.reason } };
  const err = /** @type {NodeJS.ErrnoException} */ (error);
  return { message: err.message, code: err.code };
}

// A message is one job or a list of them (folder digests go several to a message); the answer has the same shape.
parentPort?.on("message", (message) => {
  // Folder digests of one message share the folders above theirs (the data directory, `actors`), held until it is answered.
  const held = new Map();
  try {
    parentPort?.postMessage(Array.isArray(message) ? message.map((job) => answer(job, held)) : answer(message, held));
  } finally {
    closeHeld(held);
  }
});
