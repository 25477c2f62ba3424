import { Worker } from "node:worker_threads";
import type { SqlFragment } from "./statements.ts";
import type { Db } from "./store.ts";

/**
 * Aggregates over the whole images table (duplicates, figures of an image filter) take hundreds
 * of milliseconds at half a million rows; one synchronous statement would hold every other
 * request that long. They run here instead, on a worker thread with a read-only connection of
 * its own (WAL: readers do not wait for the writer), one at a time per store.
 */
class AggregateReader {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, { resolve(results: unknown[][]): void; reject(error: Error): void }>();
  private nextId = 0;

  constructor(private readonly path: string) {}

  /** Every row of each statement, all read in one transaction that sees every commit made before the call. */
  read(statements: readonly SqlFragment[]): Promise<unknown[][]> {
    const worker = this.started();
    const id = this.nextId++;
    // Held only while a read is pending: an idle reader must not keep a CLI run alive.
    if (this.waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, path: this.path, statements });
    });
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./aggregate-worker.mjs", import.meta.url));
    worker.on("message", ({ id, results, error }: { id: number; results?: unknown[][]; error?: string }) => {
      const pending = this.waiting.get(id);
      this.waiting.delete(id);
      if (this.waiting.size === 0) worker.unref();
      if (error !== undefined) pending?.reject(new Error(`${this.path}: ${error}`));
      else pending?.resolve(results!);
    });
    // A worker that died takes its pending reads with it; the next read starts another.
    worker.on("error", (error) => this.fail(worker, error));
    worker.on("exit", (code) => this.fail(worker, new Error(`${this.path}: aggregate reader stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private fail(worker: Worker, error: Error): void {
    if (this.worker === worker) this.worker = null;
    for (const pending of this.waiting.values()) pending.reject(error);
    this.waiting.clear();
  }
}

const readers = new WeakMap<object, AggregateReader>();

/** Runs the statements on the store's aggregate reader (see above) and resolves with the rows of each. */
export function readAggregates(db: Db, statements: readonly SqlFragment[]): Promise<unknown[][]> {
  let reader = readers.get(db.$client);
  if (!reader) readers.set(db.$client, (reader = new AggregateReader(db.$client.name)));
  return reader.read(statements);
}

/** Stops the store's aggregate reader, if it started one (the store is closing). */
export function closeAggregateReader(db: Db): void {
  readers.get(db.$client)?.close();
  readers.delete(db.$client);
}

/** Applies `use` at once to a value already known, or when it arrives (from the aggregate reader). */
export function whenRead<T, R>(value: T | Promise<T>, use: (value: T) => R): R | Promise<R> {
  return value instanceof Promise ? value.then(use) : use(value);
}
