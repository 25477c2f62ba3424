import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { S3Config } from "../../config.ts";
import { runsCompiled } from "../../project-files.ts";
import type { FoundFile } from "./source-files.ts";
import type { UnitResult } from "./source-read-worker.ts";

// Compiled (dist/), the reader is JavaScript and starts as it is; from source (tests, tsx) a
// TypeScript worker needs tsx registered first (ts-worker-entry.mjs).
const workerEntry = new URL(runsCompiled ? "./source-read-worker.js" : "./ts-worker-entry.mjs", import.meta.url);
const readerModule = new URL("./source-read-worker.ts", import.meta.url).href;

/**
 * Reads, validates and merges manifests on other threads, so that a large import parses
 * while the main thread writes SQLite (measured: 500,000 images took 2.3 s to read and
 * parse and 3.5 s to write; one after the other they missed the 100,000 images/s bar).
 */
export class SourceReadPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve(results: UnitResult[]): void; reject(error: unknown): void }>();
  private nextId = 0;

  constructor(size = Math.max(1, availableParallelism() - 1)) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(workerEntry, { workerData: runsCompiled ? {} : { entry: readerModule } });
      worker.on("message", ({ id, units }: { id: number; units: UnitResult[] }) => {
        this.waiting.get(id)?.resolve(units);
        this.waiting.delete(id);
      });
      worker.on("error", (error) => {
        for (const pending of this.waiting.values()) pending.reject(error);
        this.waiting.clear();
      });
      return worker;
    });
  }

  /** Reads a batch of units (each an actor's files) on the next thread in turn; results keep their order. */
  read(units: FoundFile[][], s3: S3Config): Promise<UnitResult[]> {
    const id = this.nextId++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, units, s3 });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
