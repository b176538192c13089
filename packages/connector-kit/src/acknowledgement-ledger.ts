/**
 * The entries a source has emitted and not yet acknowledged, keyed by broker id. It bounds how
 * far a source may read ahead of its acknowledgements (a full ledger makes the source wait:
 * backpressure instead of unbounded memory or an unbounded pending list on the broker), and it
 * keeps what the connector needs to acknowledge each entry later (the subtask that read it, or
 * the broker's message object).
 */
import { CancelledError } from '@millrace/core';

export interface AcknowledgementLedgerOptions {
  /** Entries held before `waitForRoom` waits. */
  capacity: number;
}

export class AcknowledgementLedger<Handle> {
  readonly capacity: number;
  readonly #entries = new Map<string, Handle>();
  #waiters: (() => void)[] = [];
  #failure: unknown;

  constructor(options: AcknowledgementLedgerOptions) {
    if (!(Number.isInteger(options.capacity) && options.capacity > 0)) {
      throw new RangeError('AcknowledgementLedger capacity must be a positive integer');
    }
    this.capacity = options.capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** How many more entries fit before the source must wait. */
  get room(): number {
    return Math.max(0, this.capacity - this.#entries.size);
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Records an emitted entry (an id already held keeps its first handle). */
  add(id: string, handle: Handle): void {
    if (!this.#entries.has(id)) this.#entries.set(id, handle);
  }

  /** Removes the entries with these ids and returns their handles; unknown ids are skipped. */
  take(ids: readonly string[]): { id: string; handle: Handle }[] {
    const taken: { id: string; handle: Handle }[] = [];
    for (const id of ids) {
      const handle = this.#entries.get(id);
      if (handle === undefined) continue;
      this.#entries.delete(id);
      taken.push({ id, handle });
    }
    if (taken.length > 0) this.#wake();
    return taken;
  }

  /** The held entries, oldest first. */
  entries(): IterableIterator<[string, Handle]> {
    return this.#entries.entries();
  }

  /** Why acknowledging failed (set by `fail`); the source's readers throw it. */
  get failure(): unknown {
    return this.#failure;
  }

  /**
   * Acknowledging entries failed (the broker went away, a role runs without replay): a waiting
   * and every later `waitForRoom` rejects with `error`, so the source fails the job with it
   * instead of waiting for acknowledgements that will never come. The first failure is kept.
   */
  fail(error: unknown): void {
    this.#failure ??= error;
    this.#wake();
  }

  /** Resolves when at least one more entry fits; rejects when `signal` fires or the ledger failed. */
  async waitForRoom(signal: AbortSignal): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    while (this.room === 0) {
      if (signal.aborted) throw signal.reason ?? new CancelledError();
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiters.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  #wake(): void {
    const woken = this.#waiters;
    this.#waiters = [];
    for (const wake of woken) wake();
  }
}
