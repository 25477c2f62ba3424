import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { closeStore, openStore, type Db } from "../../src/db/store.ts";

let dir: string;
let db: Db | undefined;
afterEach(() => {
  if (db) closeStore(db);
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Writes about `megabytes` MB of hash_cache rows in one transaction (a WAL past SQLite's 1,000 pages). */
function writeRows(store: Db, megabytes: number, tag: string): void {
  const insert = store.$client.prepare(
    "INSERT INTO hash_cache (path, size_bytes, mtime_ms, inode, ctime_ms, md5) VALUES (?, 1, 1, 1, 1, ?)",
  );
  store.$client.transaction(() => {
    for (let i = 0; i < megabytes * 2000; i++) insert.run(`/${tag}/${i}/${"p".repeat(400)}`, "0".repeat(32));
  })();
}

/** Resolves once every frame in the WAL is copied into the database (NOOP only reads SQLite's counts). */
async function copiedBack(store: Db): Promise<void> {
  const counts = () => (store.$client.pragma("wal_checkpoint(NOOP)") as { log: number; checkpointed: number }[])[0]!;
  const deadline = Date.now() + 10_000;
  while (counts().checkpointed < counts().log && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

it("a large commit does not checkpoint on the committing thread; the checkpoint thread copies it into the database soon after", async () => {
  dir = mkdtempSync(join(tmpdir(), "am-wal-"));
  const path = join(dir, "manifests.db");
  db = openStore(path);
  const before = statSync(path).size;
  writeRows(db, 6, "a");
  // SQLite's default would have copied the 6 MB into the database inside that COMMIT (with an fsync).
  expect(statSync(path).size).toBe(before);
  expect(statSync(`${path}-wal`).size).toBeGreaterThan(4_000_000);
  await copiedBack(db);
  expect(statSync(path).size).toBeGreaterThan(before + 4_000_000);
  // Closing waits for the thread's connection: the store's closes last, checkpoints the rest and removes the WAL.
  closeStore(db);
  expect(existsSync(`${path}-wal`)).toBe(false);
  db = openStore(path);
  expect(db.$client.prepare("SELECT count(*) FROM hash_cache").pluck().get()).toBe(12_000);
});
