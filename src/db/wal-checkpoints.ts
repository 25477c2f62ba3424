import { statSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/**
 * WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside the COMMIT that
 * takes the WAL past 1,000 pages, and with synchronous=NORMAL it fsyncs there: measured at
 * 150–260 ms on this machine, with the main thread held (a cold audit's hashing threads ran dry,
 * every request waited). Here the store's connection checkpoints on its own only past a far
 * larger WAL (a safety net), and a worker thread with a connection of its own keeps SQLite's
 * rule instead (see wal-checkpoint-worker.mjs). The thread starts once the WAL file is large
 * enough to hold 1,000 pages (a stat, no file opened: closing any descriptor of a database file
 * would drop this process's POSIX locks on it), so a run that writes little starts none.
 *
 * Checking once a second while the WAL changed, instead of by SQLite's rule, made a cold sync
 * 1.5 s slower: each checkpoint's fsync stalled s3rver's writes of the uploaded objects.
 *
 * Under commits that never pause, each commit during a PASSIVE checkpoint leaves a frame it has
 * not copied, so no writer can start the WAL over and it grows (measured: 14,000 frames over six
 * back-to-back audits; it starts over at the first pause). RESTART would bound it, but it makes
 * writers wait for every reader, an aggregate read of a second included; the safety net bounds
 * it instead, with a checkpoint on the store's connection at 64 MB.
 */
export class WalCheckpointer {
  private worker: Worker | null = null;
  /** Set to 1 by the thread once its connection is closed (see `close`). */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sqlite: Database.Database,
    private readonly dbPath: string,
  ) {
    sqlite.pragma(`wal_autocheckpoint = ${safetyNetPages}`);
    this.timer = setInterval(() => this.startWhenDue(), checkEveryMs);
    this.timer.unref();
  }

  /**
   * Stops the thread and waits (briefly) until its connection is closed, so that the store's own
   * connection closes last: the last one to close checkpoints what is left and removes the WAL.
   */
  close(): void {
    clearInterval(this.timer);
    if (!this.worker) return;
    this.worker.postMessage("close");
    Atomics.wait(this.closed, 0, 0, closeWaitMs);
    this.worker = null;
  }

  private startWhenDue(): void {
    if (this.worker || (statSync(`${this.dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0) < walBytesOfCheckpoint) return;
    clearInterval(this.timer); // the thread checks from now on
    const worker = new Worker(new URL("./wal-checkpoint-worker.mjs", import.meta.url), {
      workerData: { dbPath: this.dbPath, checkEveryMs, checkpointAtFrames, closed: this.closed },
    });
    worker.unref(); // never keeps a process alive
    // A thread that cannot run gives the checkpoints back to the store's connection (and closing waits for no one).
    worker.on("error", () => {
      if (this.worker === worker) this.worker = null;
      if (this.sqlite.open) this.sqlite.pragma(`wal_autocheckpoint = ${checkpointAtFrames}`);
    });
    this.worker = worker;
  }
}

const checkEveryMs = 200;
/** SQLite's default autocheckpoint: 1,000 pages. */
const checkpointAtFrames = 1000;
/** The smallest WAL file holding that many frames of 4 KiB pages (each with its 24-byte header). */
const walBytesOfCheckpoint = checkpointAtFrames * (4096 + 24);
/** The store's own checkpoint, only if the thread falls this far behind (64 MB of WAL at 4 KiB pages). */
const safetyNetPages = 16_000;
const closeWaitMs = 2_000;
