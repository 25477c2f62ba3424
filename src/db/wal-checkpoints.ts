import { closeSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside the COMMIT that
 * takes the WAL past 1,000 pages, and with synchronous=NORMAL it fsyncs there: measured at
 * 150–260 ms on this machine, with the main thread held (a cold audit's hashing threads ran dry,
 * every request waited). The store's connection checkpoints on its own only past a far larger
 * WAL (a safety net); this keeps SQLite's rule (below) but runs the
 * checkpoint (PASSIVE: it never blocks a reader or a writer) on a worker thread with a connection
 * of its own. The thread starts with the first checkpoint, so a run that writes little starts none.
 *
 * Checking by time instead (once a second while the WAL changed) made a cold sync 1.5 s slower:
 * each checkpoint's fsync stalls s3rver's writes of the uploaded objects, and pages are what
 * SQLite counts for good reason.
 */
export class WalCheckpointer {
  private worker: Worker | null = null;
  private checkpointing = false;
  private shm: number | null = null;
  private readonly header = Buffer.alloc(walIndexHeaderBytes);
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dbPath: string) {
    this.timer = setInterval(() => this.check(), checkEveryMs);
    this.timer.unref();
  }

  /** Stops the thread; its connection closes (the last one to close checkpoints what is left). */
  close(): void {
    clearInterval(this.timer);
    if (this.shm !== null) closeSync(this.shm);
    this.shm = null;
    this.worker?.postMessage("close");
    this.worker = null;
  }

  private check(): void {
    if (this.checkpointing || !this.due()) return;
    this.checkpointing = true;
    this.started().postMessage("checkpoint");
  }

  /**
   * SQLite's rule: the WAL holds 1,000 frames or more and some are not yet copied into the
   * database. Until every frame is copied, no writer can start the WAL over, so a checkpoint that
   * a commit overtook is followed by another, however few frames are left. Read from the WAL-index
   * header in the -shm file (https://sqlite.org/walformat.html: mxFrame at byte 16, nBackfill at
   * byte 96, native byte order); false when it cannot be read.
   */
  private due(): boolean {
    try {
      this.shm ??= openSync(`${this.dbPath}-shm`, "r");
      if (readSync(this.shm, this.header, 0, walIndexHeaderBytes, 0) < walIndexHeaderBytes) return false;
    } catch {
      return false;
    }
    const u32 = (offset: number) => (endianness() === "LE" ? this.header.readUInt32LE(offset) : this.header.readUInt32BE(offset));
    const frames = u32(16);
    return frames >= checkpointAtFrames && frames > u32(96);
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./wal-checkpoint-worker.mjs", import.meta.url), { workerData: { dbPath: this.dbPath } });
    worker.unref(); // never keeps a process alive
    worker.on("message", () => {
      this.checkpointing = false;
    });
    // A thread that died is replaced at the next check; the safety net covers the gap.
    const forget = () => {
      this.checkpointing = false;
      if (this.worker === worker) this.worker = null;
    };
    worker.on("error", forget);
    worker.on("exit", forget);
    this.worker = worker;
    return worker;
  }
}

const checkEveryMs = 200;
/** SQLite's default autocheckpoint: 1,000 pages. */
const checkpointAtFrames = 1000;
/** The two copies of the WAL-index header and the checkpoint info's nBackfill. */
const walIndexHeaderBytes = 100;
/** The store's own checkpoint, only if the thread falls this far behind (64 MB of WAL at 4 KiB pages). */
export const safetyNetPages = 16_000;
