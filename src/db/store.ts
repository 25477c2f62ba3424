import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { projectPath } from "../project-files.ts";
import { closeAggregateReader } from "./aggregate-reads.ts";
import { releaseLease } from "./process-lease.ts";
import { WalCheckpointer } from "./wal-checkpoints.ts";
import * as tables from "./schema.ts";

export type Db = BetterSQLite3Database<typeof tables> & { $client: Database.Database };

const migrationsFolder = projectPath("migrations");

/**
 * Opens (creating if needed) the SQLite file and applies the committed migrations.
 * Foreign keys are off while migrating: drizzle runs all pending migrations in one
 * transaction, where `PRAGMA foreign_keys=OFF` inside a migration does nothing, and a
 * table rebuild would otherwise cascade-delete rows.
 */
export function openStore(dbPath: string): Db {
  if (dbPath !== ":memory:") mkdirSync(dirname(dbPath), { recursive: true });
  const sqlite = new Database(dbPath);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  // Several processes share the file (SPEC.md §7): a writer waits for another's short transaction.
  sqlite.pragma("busy_timeout = 20000");
  beginTransactionsImmediate(sqlite);
  sqlite.pragma("cache_size = -65536");
  sqlite.pragma("foreign_keys = OFF");
  const db = drizzle(sqlite, { schema: tables }) as Db;
  migrate(db, { migrationsFolder });
  const violations = sqlite.pragma("foreign_key_check") as unknown[];
  if (violations.length > 0) {
    sqlite.close();
    throw new Error(`${dbPath}: foreign key check failed after migration (${violations.length} rows)`);
  }
  sqlite.pragma("foreign_keys = ON");
  // Checkpoints run on a thread of their own (wal-checkpoints.ts).
  if (dbPath !== ":memory:") checkpointers.set(sqlite, new WalCheckpointer(sqlite, dbPath));
  return db;
}

/**
 * Makes every transaction of this connection BEGIN IMMEDIATE (drizzle asks for deferred): a
 * deferred transaction that reads before it writes fails with SQLITE_BUSY at once, without
 * waiting, when another process committed in between; an immediate one takes the write lock
 * first, waiting for it under busy_timeout. Every transaction here writes.
 */
function beginTransactionsImmediate(sqlite: Database.Database): void {
  const transactionOf = sqlite.transaction.bind(sqlite);
  sqlite.transaction = ((work: (...args: unknown[]) => unknown) => {
    const variants = transactionOf(work);
    return Object.assign((...args: unknown[]) => variants.immediate(...args), {
      default: variants.immediate,
      deferred: variants.immediate,
      immediate: variants.immediate,
      exclusive: variants.exclusive,
    });
  }) as Database.Database["transaction"];
}

const checkpointers = new WeakMap<Database.Database, WalCheckpointer>();

/** Releases this process's lease (its locks and intents stay until settled), stops its aggregate reader and closes the file. */
export function closeStore(db: Db): void {
  closeAggregateReader(db);
  checkpointers.get(db.$client)?.close();
  if (db.$client.open) releaseLease(db);
  db.$client.close();
}

/** Whether SQLite answers a query (the readiness check). Throws what it failed with. */
export function pingStore(db: Db): void {
  db.$client.prepare("SELECT 1").get();
}
