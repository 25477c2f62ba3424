import type { Db } from "./store.ts";

/**
 * Reads that scan a whole table share the event loop: they run as windows of rowids, each
 * window in a turn of its own, queued per connection. A request that arrives during a scan
 * of half a million rows is then answered after one window (milliseconds), not after the
 * whole scan, and several scans take turns instead of running back to back.
 */

/** Rows per window: about 10 ms of a filtered scan of `images` on a slow core. */
export const scanWindowRows = 10_000;

const lanes = new WeakMap<object, Promise<unknown>>();

/** Runs `read` in a later turn of the event loop, after the windows queued before it on this connection. */
function inScanTurn<T>(db: Db, read: () => T): Promise<T> {
  const previous = lanes.get(db.$client) ?? Promise.resolve();
  const turn = previous.then(
    () =>
      new Promise<T>((resolve, reject) => {
        // setImmediate, not a microtask: the poll phase (other requests' I/O) runs between two turns.
        setImmediate(() => {
          try {
            resolve(read());
          } catch (error) {
            reject(error);
          }
        });
      }),
  );
  lanes.set(
    db.$client,
    turn.catch(() => undefined),
  );
  return turn;
}

/**
 * Calls `visit(from, to)` for the rowid windows `from < id <= to` after `afterId` up to
 * `lastId`, one per turn, until `visit` returns false (it has what it needs).
 */
export async function scanInWindows(db: Db, afterId: number, lastId: number, visit: (from: number, to: number) => boolean): Promise<void> {
  for (let from = afterId; from < lastId; from += scanWindowRows) {
    const to = Math.min(from + scanWindowRows, lastId);
    if (!(await inScanTurn(db, () => visit(from, to)))) return;
  }
}
