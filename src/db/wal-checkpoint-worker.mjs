// Worker of wal-checkpoints.ts: checkpoints the WAL on a connection of its own, so the fsync a
// checkpoint makes never holds the main thread. Plain JavaScript on purpose: a worker thread does
// not inherit tsx's loader, and a .mjs file needs none.
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";

const db = new Database(workerData.dbPath, { fileMustExist: true });

parentPort.on("message", (message) => {
  if (message === "close") {
    db.close();
    parentPort.close();
    return;
  }
  // PASSIVE: copies what no reader still needs, and never waits for (or blocks) another connection.
  db.pragma("wal_checkpoint(PASSIVE)");
  parentPort.postMessage("done");
});
