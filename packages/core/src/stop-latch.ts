/**
 * Racing work against "stopped" without keeping the work alive.
 *
 * `Promise.race([work, stopped])` in a loop leaks: every race adds a reaction to the long-lived
 * `stopped` promise, and that reaction keeps the race's result (a batch of records) reachable
 * until `stopped` settles. A pump that moves a million records retained every one of them (issue
 * 11: about 200 bytes a record in the job's process, whether replay was on or off). A latch keeps
 * one waiter per pending race and forgets it as soon as the work settles.
 */
export class StopLatch<T> {
  #stopped = false;
  #value: T | undefined;
  readonly #waiters = new Set<(value: T) => void>();

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Settles every pending and future `race` with `value` (the first call wins). */
  stop(value: T): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#value = value;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter(value);
  }

  /** `work`'s outcome, or the stop value if the latch stops first. Holds nothing once `work` settles. */
  race<R>(work: Promise<R>): Promise<R | T> {
    if (this.#stopped) return Promise.resolve(this.#value as T);
    return new Promise<R | T>((resolve, reject) => {
      const waiter = (value: T) => resolve(value);
      this.#waiters.add(waiter);
      work.then(
        (value) => {
          this.#waiters.delete(waiter);
          resolve(value);
        },
        (error: unknown) => {
          this.#waiters.delete(waiter);
          reject(error);
        },
      );
    });
  }
}
