import pLimit from "p-limit";

/**
 * Maps `items` through `fn` with at most `limit` calls in flight, keeping order.
 * The first rejection rejects the whole map (the calls already started still run).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const gate = pLimit(Math.max(1, limit));
  return Promise.all(items.map((item, index) => gate(() => fn(item, index))));
}

/** Like `mapLimit`, but one failing item never stops the others: each outcome is reported. */
export async function settleLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const gate = pLimit(Math.max(1, limit));
  return Promise.allSettled(items.map((item, index) => gate(() => fn(item, index))));
}

/**
 * Gathers the calls of one turn of the event loop into one call of `run` (one SQLite
 * transaction for all of them, where a commit each would cost more than the work); `run`
 * answers each item in order. If it throws, every call of that turn rejects with it.
 */
export class TickBatch<T, R> {
  private pending: { item: T; resolve(value: R): void; reject(error: unknown): void }[] = [];

  constructor(private readonly run: (items: T[]) => R[]) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ item, resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.pending.splice(0);
    let answers: R[];
    try {
      answers = this.run(batch.map((call) => call.item));
    } catch (error) {
      for (const call of batch) call.reject(error);
      return;
    }
    for (const [i, call] of batch.entries()) call.resolve(answers[i]!);
  }
}
