// Worker of aggregate-reads.ts: runs heavy read-only statements on a connection of its own.
// Plain JavaScript on purpose: a worker thread does not inherit tsx's loader, and a .mjs file needs none.
import Database from "better-sqlite3";
import { parentPort } from "node:worker_threads";

/**
 * Opens the file read-only for each request and runs its statements in one read transaction:
 * WAL lets it read beside the main thread's writes, and a connection opened now sees every
 * commit made before the request was sent.
 * @param {{ path: string, statements: { sql: string, params: unknown[] }[] }} request
 */
function readAll(request) {
  const db = new Database(request.path, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 20000");
    return db.transaction(() => request.statements.map(({ sql, params }) => db.prepare(sql).all(...params)))();
  } finally {
    db.close();
  }
}

parentPort.on("message", (request) => {
  try {
    parentPort.postMessage({ id: request.id, results: readAll(request) });
  } catch (error) {
    parentPort.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) });
  }
});
