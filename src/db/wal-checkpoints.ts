import { statSync } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside the COMMIT that
 * takes the WAL past 1,000 pages, and with synchronous=NORMAL it fsyncs there: measured at
 * 150–260 ms on this machine, with the main thread held (a cold audit's hashing threads ran dry,
 * every request waited). The store's connection checkpoints on its own only past a far larger
 * WAL (a safety net); a worker thread with a connection of its own checkpoints instead (PASSIVE:
 * it never blocks a reader or a writer), at most once per second while the WAL keeps changing.
 * The thread starts only once the WAL passes SQLite's usual 1,000 pages, so a short run that
 * writes little starts none.
 */
export class WalCheckpointer {
  private worker: Worker | null = null;
  private checkedMtimeMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dbPath: string) {
    this.timer = setInterval(() => this.check(), checkEveryMs);
    this.timer.unref();
  }

  /** Stops the thread; its connection closes (the last one to close checkpoints what is left). */
  close(): void {
    clearInterval(this.timer);
    this.worker?.postMessage("close");
    this.worker = null;
  }

  private check(): void {
    const wal = statSync(`${this.dbPath}-wal`, { throwIfNoEntry: false });
    // A checkpoint writes the database file, not the WAL: an unchanged WAL has nothing new to copy.
    if (!wal || wal.mtimeMs === this.checkedMtimeMs || (!this.worker && wal.size < startAtBytes)) return;
    this.checkedMtimeMs = wal.mtimeMs;
    this.started().postMessage("checkpoint");
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./wal-checkpoint-worker.mjs", import.meta.url), { workerData: { dbPath: this.dbPath } });
    worker.unref(); // never keeps a process alive
    // A thread that died is replaced at the next check; the safety net covers the gap.
    const forget = () => {
      if (this.worker === worker) this.worker = null;
    };
    worker.on("error", forget);
    worker.on("exit", forget);
    this.worker = worker;
    return worker;
  }
}

const checkEveryMs = 1000;
/** SQLite's default autocheckpoint: 1,000 pages of 4 KiB. */
const startAtBytes = 1000 * 4096;
/** The store's own checkpoint, only if the thread falls this far behind (64 MB of WAL). */
export const safetyNetPages = 16_000;
