/**
 * In-process publish/subscribe for the server's live views (job progress, actor changes).
 * Subscriptions are async iterators, as GraphQL subscriptions want them; a subscriber
 * that stops iterating (the client went away) is removed at once.
 */
export class EventFeed<T> {
  private readonly subscribers = new Map<EventStream<T>, (event: T) => boolean>();

  publish(event: T): void {
    for (const [stream, accept] of this.subscribers) if (accept(event)) stream.push(event);
  }

  /** Events from now on, those `accept` keeps; runs until the consumer returns or the feed closes. */
  subscribe(accept: (event: T) => boolean = () => true): EventStream<T> {
    const stream = new EventStream<T>(() => this.subscribers.delete(stream));
    this.subscribers.set(stream, accept);
    return stream;
  }

  /** Ends every subscriber's stream once it has read what is queued. */
  close(): void {
    for (const stream of [...this.subscribers.keys()]) stream.end();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}

/** A queue read as an async iterator; `end()` lets the reader finish what is queued, then stop. */
export class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private ended = false;

  constructor(private readonly onClose: () => void = () => {}) {}

  push(event: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: event, done: false });
    } else this.queue.push(event);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose();
    if (this.waiting && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.queue.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
