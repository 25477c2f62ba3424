import { cachedStatement } from "./statements.ts";
import type { Db } from "./store.ts";

interface CachedFigure {
  version: string;
  value: unknown;
}

const figureCaches = new WeakMap<object, Map<string, CachedFigure>>();

/**
 * Aggregates across actors are cached per connection and query, and recomputed after any
 * write: `total_changes()` moves with every write on this connection and
 * `PRAGMA data_version` with every commit from another. Callers must not mutate the value;
 * a promise is cached as it is, until it rejects.
 */
export function cachedUntilWrite<T>(db: Db, key: string, compute: () => T): T {
  const version = dataVersion(db);
  let cache = figureCaches.get(db.$client);
  if (!cache) figureCaches.set(db.$client, (cache = new Map()));
  const hit = cache.get(key);
  if (hit && hit.version === version) return hit.value as T;
  const value = compute();
  if (cache.size > 256) cache.clear();
  const entry = { version, value };
  cache.set(key, entry);
  // A failed computation is not an answer: the next call computes again instead of failing again.
  if (value instanceof Promise)
    value.catch(() => {
      if (cache.get(key) === entry) cache.delete(key);
    });
  return value;
}

function dataVersion(db: Db): string {
  const row = cachedStatement(db, "SELECT total_changes() AS changes").get() as { changes: number };
  const pragma = cachedStatement(db, "PRAGMA data_version").get() as { data_version: number };
  return `${pragma.data_version}:${row.changes}`;
}
