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
