/**
 * Folder src/sync/hashing/: MD5 of local files off the main thread (this pool of
 * md5-worker.mjs threads) and the hash cache that skips files unchanged since last hashed.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { trainingImagePattern } from "../files/layout.ts";
import { folderDigest } from "./folder-digest.mjs";
import { UnsafePathError } from "../files/real-folders.mjs";

/** What hashing one file found: its MD5, multipart ETags asked for, and the stat of what was read. */
export interface FileHash {
  md5: string;
  /** Multipart ETag (`md5-of-part-md5s-N`) per requested part size, keyed by the size in bytes. */
  multipartEtags: Record<string, string>;
  bytesRead: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  inode: number;
}

/** The stat fields that identify a file's content (see hash-cache.ts). */
export interface FileStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  inode: number;
}

/** A folder's entries and the stat of the files asked for; `exists` false when the folder is missing. */
export interface FolderStat {
  exists: boolean;
  names: string[];
  /** One per requested filename: null when it is missing or not a regular file (a link is not followed). */
  stats: (FileStat | null)[];
  /** Image entries that are symbolic links: never followed, reported (SPEC.md §3). */
  links: string[];
  /** Digest of the folder's image files as `folderDigest` gives it. */
  digest: string;
  /** One per requested filename: its MD5 when it was hashed (see `statFolder`), the error that stopped it, else null. */
  hashes: (FolderFileHash | HashFileError | null)[];
}

export interface FolderFileHash extends FileHash {
  /** False when the file was stamped near its hashing: its stat cannot vouch for this MD5 later (see stampedNear). */
  remember: boolean;
}

export interface Md5PoolOptions {
  /** Worker threads; default os.availableParallelism(). */
  threads?: number;
  /** Read buffer of each worker (bytes); default 256 KiB. */
  bufferSize?: number;
}

export class HashFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly code: string | undefined,
  ) {
    super(`${path}: ${message}`);
    this.name = "HashFileError";
  }
}

type Request =
  | { kind: "hash"; root: string; path: string; partSizes: number[] }
  | { kind: "statFolder" | "hashFiles"; root: string; folder: string; filenames: string[]; hashUnless: (number[] | null | 0)[] }
  | { kind: "folderDigest"; root: string; folder: string };

interface Job {
  id: number;
  request: Request;
  resolve(answer: WorkerAnswer): void;
  reject(error: Error): void;
}

type WorkerAnswer =
  | (FileHash & { id: number; kind: "hash"; error?: undefined })
  | {
      id: number;
      kind: "statFolder";
      exists: boolean;
      names: string[];
      links: string[];
      stats: (number[] | null)[];
      hashes: AnsweredHash[];
      digest: string;
      error?: undefined;
    }
  | { id: number; kind: "hashFiles"; hashes: AnsweredHash[]; error?: undefined }
  | { id: number; kind: "folderDigest"; digest: string; links: string[]; error?: undefined }
  | { id: number; error: AnsweredError };

type AnsweredHash = FolderFileHash | { error: AnsweredError } | null;

/** An error as a worker answers it: `unsafe` when it refused a folder on the way (a link). */
interface AnsweredError {
  message: string;
  code?: string;
  unsafe?: { path: string; reason: string };
}

function errorOf(path: string, error: AnsweredError): Error {
  return error.unsafe ? new UnsafePathError(error.unsafe.path, error.unsafe.reason) : new HashFileError(path, error.message, error.code);
}

interface Slot {
  worker: Worker;
  /** Messages sent and not yet answered, oldest first (a worker answers in order); each carries one or more jobs. */
  jobs: Job[][];
}

/** Folder digests queued together go in one message: a message costs more than the stats of a small folder. */
const digestsPerMessage = 32;

/**
 * Files hashed per message at most (a file asked for alone: part sizes, uploads). Measured on a cold
 * audit of 50 actors × 20 × 300 KB when it hashed this way: one file per message ran at 83 / 76 %
 * of two-process md5sum, four at 102 / 95 %.
 */
const hashesPerMessage = 4;

/** An actor's files are split over the threads only when they hold at least this many each. */
const minFilesPerPart = 4;

/** Which jobs may share a message: a few hashes, many folder digests; an actor's folder (with its hashing) goes alone. */
function messageGroup(request: Request): "hash" | "digest" | "alone" {
  if (request.kind === "hash") return "hash";
  return request.kind === "folderDigest" ? "digest" : "alone";
}

/** Jobs queued in each worker: the next file is already waiting when one finishes. */
const jobsPerWorker = 2;

const workerUrl = new URL("./md5-worker.mjs", import.meta.url);
// Measured on 300 KB and 512 MB files: 64–256 KiB reads match md5sum; 4 MiB and up fall behind (cache misses).
export const defaultBufferSize = 256 << 10;

/**
 * Reads files in worker threads across all cores: the directory listings and stats an audit
 * needs (system calls are slow enough here that thousands of them belong off the main thread)
 * with the MD5s of an actor's changed files, and MD5s of single files. `bytesRead` counts every byte of file
 * content read since the pool was made, which is how tests prove that a warm audit
 * reads no file content.
 */
export class Md5Pool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  bytesRead = 0;
  filesHashed = 0;
  /** Worker threads once started. */
  readonly threads: number;
  private readonly bufferSize: number;

  /** Worker threads running now: none until the first job. */
  get running(): number {
    return this.slots.length;
  }

  constructor(options: Md5PoolOptions = {}) {
    this.threads = Math.max(1, options.threads ?? availableParallelism());
    this.bufferSize = options.bufferSize ?? defaultBufferSize;
  }

  /**
   * MD5 of the file at `path`, plus the multipart ETag for each of `partSizes`, in one read.
   * Refused (UnsafePathError) when a folder from the data directory `root` down to the file is a
   * link: checked in the thread right before the file is opened (O_NOFOLLOW guards the file itself).
   */
  async hash(root: string, path: string, partSizes: readonly number[] = []): Promise<FileHash> {
    const answer = await this.submit({ kind: "hash", root, path, partSizes: [...new Set(partSizes)] });
    if (answer.error) throw errorOf(path, answer.error);
    if (answer.kind !== "hash") throw new Error("md5 worker answered out of turn");
    this.bytesRead += answer.bytesRead;
    this.filesHashed += 1;
    return answer; // its id and kind ride along: copying the rest out cost more than they do
  }

  /**
   * The entries of `folder` and the stat of each of `filenames` in it, and the MD5 of each present
   * file whose `hashUnless` entry is null, or a stat it no longer has (a cached MD5 gone stale); an
   * undefined entry is not hashed. The hashing goes with the stat job, one message per folder
   * instead of one per few files (the main thread's share of a cold audit is CPU the hashing
   * threads need); while no other job waits, it is shared with the other threads, so that an actor
   * audited alone is hashed on every core. Refused (UnsafePathError) when a folder from the data
   * directory `root` down to it is a link: checked in the threads, before anything in it is read.
   */
  async statFolder(
    root: string,
    folder: string,
    filenames: readonly string[],
    hashUnless: readonly (FileStat | null | undefined)[],
  ): Promise<FolderStat> {
    const asked = hashUnless.map((stat) => (stat === undefined ? 0 : stat && [stat.size, stat.mtimeMs, stat.ctimeMs, stat.inode]));
    const candidates = asked.flatMap((entry, i) => (entry === 0 ? [] : [i]));
    const parts = this.queue.length > 0 ? 1 : Math.max(1, Math.min(this.threads, Math.floor(candidates.length / minFilesPerPart)));
    // Part 0 rides with the stat job; each other part is a job of its own over its share of the files.
    const partOf = new Map(candidates.map((i, k) => [i, Math.floor((k * parts) / candidates.length)]));
    const others = Array.from({ length: parts - 1 }, (_, part) => {
      const indices = candidates.filter((i) => partOf.get(i) === part + 1);
      const request = {
        kind: "hashFiles" as const,
        root,
        folder,
        filenames: indices.map((i) => filenames[i]!),
        hashUnless: indices.map((i) => asked[i]!),
      };
      return this.submit(request).then((answer) => ({ indices, answer }));
    });
    const answer = await this.submit({
      kind: "statFolder",
      root,
      folder,
      filenames: [...filenames],
      hashUnless: asked.map((entry, i) => (partOf.get(i) ? 0 : entry)),
    });
    const parted = await Promise.all(others);
    const answered: AnsweredHash[] = !answer.error && answer.kind === "statFolder" ? [...answer.hashes] : filenames.map(() => null);
    for (const { indices, answer: part } of parted)
      if (!part.error && part.kind === "hashFiles") for (const [k, i] of indices.entries()) answered[i] = part.hashes[k]!;
    // Every byte read is counted, even when one job refused the folder (what `bytesRead` promises).
    const hashes = answered.map((hash, i) => {
      if (!hash) return null;
      if ("error" in hash) return new HashFileError(join(folder, filenames[i]!), hash.error.message, hash.error.code);
      this.bytesRead += hash.bytesRead;
      this.filesHashed += 1;
      return hash;
    });
    const refused = [answer, ...parted.map((part) => part.answer)].find((job) => job.error)?.error;
    if (refused) throw errorOf(folder, refused);
    if (answer.error || answer.kind !== "statFolder" || parted.some((part) => part.answer.error || part.answer.kind !== "hashFiles"))
      throw new Error("md5 worker answered out of turn");
    return {
      exists: answer.exists,
      names: answer.names,
      links: answer.links,
      stats: answer.stats.map((s) => (s ? { size: s[0]!, mtimeMs: s[1]!, ctimeMs: s[2]!, inode: s[3]! } : null)),
      digest: answer.digest,
      hashes,
    };
  }

  /**
   * Digest of the image files in `folder` (see folder-digest.mjs), with the image entries that are
   * links: in the threads while they run, else here (a run that hashes nothing starts none; the stat
   * of 100 folders costs less than their start-up, but while they run, two of them do it faster).
   * Refused when a folder from the data directory `root` down to it is a link; the check goes with
   * the digest, off the main thread (100 actors: 300 lstat calls).
   */
  async folderDigest(root: string, folder: string): Promise<{ digest: string; links: string[] }> {
    if (this.slots.length === 0) return folderDigest(root, folder, trainingImagePattern);
    const answer = await this.submit({ kind: "folderDigest", root, folder });
    if (answer.error) throw errorOf(folder, answer.error);
    if (answer.kind !== "folderDigest") throw new Error("md5 worker answered out of turn");
    return { digest: answer.digest, links: answer.links };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("md5 pool closed"));
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private submit(request: Request): Promise<WorkerAnswer> {
    if (this.closed) return Promise.reject(new Error("md5 pool is closed"));
    // The threads start with the first job: a run that hashes nothing (a no-change sync) starts none,
    // where their start-up took 0.1–0.15 s of a 2-core machine's CPU from the S3 listing.
    while (this.slots.length < this.threads) this.slots.push(this.startWorker());
    return new Promise<WorkerAnswer>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, resolve, reject });
      // Jobs asked for together (100 actors confirmed at once) are shared out together, evenly.
      if (this.queue.length === 1) queueMicrotask(() => this.dispatch());
    });
  }

  private startWorker(): Slot {
    const bufferSize = this.bufferSize;
    const imagePattern = { source: trainingImagePattern.source, flags: trainingImagePattern.flags };
    const worker = new Worker(workerUrl, { workerData: { bufferSize, imagePattern } });
    // Idle workers must not keep a CLI process alive; busy ones are ref'd in dispatch().
    worker.unref();
    const slot: Slot = { worker, jobs: [] };
    worker.on("message", (answer: WorkerAnswer | WorkerAnswer[]) => this.settle(slot, answer));
    worker.on("error", (error) => {
      for (const job of slot.jobs.splice(0).flat()) job.reject(error);
      if (!this.closed) {
        // Replace a crashed worker so the pool keeps its width.
        const index = this.slots.indexOf(slot);
        if (index >= 0) this.slots[index] = this.startWorker();
        this.dispatch();
      }
    });
    return slot;
  }

  private settle(slot: Slot, message: WorkerAnswer | WorkerAnswer[]): void {
    const jobs = slot.jobs.shift() ?? [];
    if (slot.jobs.length === 0) slot.worker.unref();
    const answers = Array.isArray(message) ? message : [message];
    jobs.forEach((job, i) => {
      const answer = answers[i];
      if (answer && answer.id === job.id) job.resolve(answer);
      else job.reject(new Error("md5 worker answered out of turn"));
    });
    this.dispatch();
  }

  private dispatch(): void {
    // What the queue holds now, shared evenly over the messages the workers take (two each).
    const share = Math.ceil(this.queue.length / Math.max(1, this.slots.length * jobsPerWorker));
    // Fill the least busy worker first, so a short queue spreads across all cores.
    for (let depth = 0; depth < jobsPerWorker; depth++) {
      for (const slot of this.slots) {
        if (this.queue.length === 0) return;
        if (slot.jobs.length > depth) continue;
        const jobs = [this.queue.shift()!];
        const group = messageGroup(jobs[0]!.request);
        const limit = Math.min(share, group === "hash" ? hashesPerMessage : group === "digest" ? digestsPerMessage : 1);
        while (jobs.length < limit && this.queue[0] && messageGroup(this.queue[0].request) === group) jobs.push(this.queue.shift()!);
        slot.jobs.push(jobs);
        slot.worker.ref();
        const payload = jobs.map((job) => ({ id: job.id, ...job.request }));
        slot.worker.postMessage(payload.length === 1 ? payload[0] : payload);
      }
    }
  }
}
