import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tables from "./schema.ts";

export type Db = BetterSQLite3Database<typeof tables> & { $client: Database.Database };

// Two levels up from src/db, three from its compiled copy in dist/src/db.
const migrationsFolder = resolve(dirname(fileURLToPath(import.meta.url)), import.meta.url.endsWith(".js") ? "../../../migrations" : "../../migrations");

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
  sqlite.pragma("busy_timeout = 5000");
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
  return db;
}

export function closeStore(db: Db): void {
  db.$client.close();
}
