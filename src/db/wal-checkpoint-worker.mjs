// Worker of wal-checkpoints.ts: checkpoints the WAL on a connection of its own, so the fsync a
// checkpoint makes never holds the main thread. Plain JavaScript on purpose: a worker thread does
// not inherit tsx's loader, and a .mjs file needs none.
import Database from "better-sqlite3";
import { platform, setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";

const { dbPath, checkEveryMs, checkpointAtFrames, closed } = workerData;
const db = new Database(dbPath, { fileMustExist: true });
// The lowest priority: a checkpoint can wait, the hashing threads and requests cannot. On Linux a
// nice value is per thread (elsewhere it would lower the whole process). PASSIVE holds no lock a
// writer waits for, so a starved checkpoint holds nobody up.
if (platform() === "linux") setPriority(19);

// SQLite's rule: the WAL holds 1,000 frames or more, and some are not copied into the database
// yet. Until every frame is copied no writer can start the WAL over, so a checkpoint that a commit
// overtook is followed by another, however few frames are left. NOOP only reads the counts.
const timer = setInterval(() => {
  const [{ log, checkpointed }] = db.pragma("wal_checkpoint(NOOP)");
  // PASSIVE: copies what no reader still needs, and never waits for (or blocks) another connection.
  if (log >= checkpointAtFrames && checkpointed < log) db.pragma("wal_checkpoint(PASSIVE)");
}, checkEveryMs);

parentPort.on("message", () => {
  // "close": the store is closing and waits for this (see WalCheckpointer.close).
  clearInterval(timer);
  db.close();
  Atomics.store(closed, 0, 1);
  Atomics.notify(closed, 0);
  parentPort.close();
});
