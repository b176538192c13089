/**
 * An unbounded queue with one consumer that awaits the next item, optionally with a bound.
 * The node agent funnels everything that can happen to it (stream events, heartbeat verdicts,
 * the runner ending, a local stop) through one of these, so its lifecycle reads top to bottom.
 */
export class Mailbox<T> {
  readonly #items: T[] = [];
  #waiter: ((item: T | undefined) => void) | undefined;

  push(item: T): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter(item);
    } else {
      this.#items.push(item);
    }
  }

  /** The next item, or undefined when `timeoutMs` passes first. */
  next(timeoutMs?: number): Promise<T | undefined> {
    if (this.#items.length) return Promise.resolve(this.#items.shift());
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#waiter = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiter = undefined;
          resolve(undefined);
        }, timeoutMs);
      }
    });
  }
}
