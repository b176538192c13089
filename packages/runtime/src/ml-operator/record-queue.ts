/**
 * A bounded in-memory queue of encoded records between a role's dataflow subtask and its node's
 * runner. The subtask side writes (and waits when the queue is full — backpressure from the
 * runner reaches the pipeline); the runner side reads batches through core's `InputChannel`.
 * It outlives runner attempts: a restarted runner continues with the records not yet read.
 */
import { CancelledError, type InputChannel, type OutputChannel } from '@millrace/core';

export class RecordQueue implements InputChannel {
  readonly #capacity: number;
  #records: Uint8Array[] = [];
  #head = 0;
  #ended = false;
  #failure: unknown = null;
  #readers: (() => void)[] = [];
  #writers: (() => void)[] = [];

  /** @param capacity records held before writers wait. */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#records.length - this.#head;
  }

  get ended(): boolean {
    return this.#ended;
  }

  async writeBatch(records: readonly Uint8Array[]): Promise<void> {
    for (const record of records) {
      while (this.size >= this.#capacity && this.#failure === null) {
        await new Promise<void>((resolve) => this.#writers.push(resolve));
      }
      if (this.#failure !== null) throw this.#failure;
      if (this.#ended) throw new CancelledError('The record queue has ended; no more records are accepted');
      this.#records.push(record);
      this.#wake(this.#readers);
    }
  }

  write(record: Uint8Array): Promise<void> {
    return this.writeBatch([record]);
  }

  /** No more records: readers get the rest, then end-of-stream. */
  end(): void {
    this.#ended = true;
    this.#wake(this.#readers);
  }

  /** Fails waiting and future calls (cancellation, a dead peer). */
  fail(reason: unknown = new CancelledError('The record queue was closed')): void {
    if (this.#failure !== null) return;
    this.#failure = reason;
    this.#records = [];
    this.#head = 0;
    this.#wake(this.#readers);
    this.#wake(this.#writers);
  }

  async readBatch(maxRecords: number): Promise<Uint8Array[] | null> {
    for (;;) {
      if (this.#failure !== null) throw this.#failure;
      if (this.size > 0) {
        const end = Math.min(this.#records.length, this.#head + Math.max(1, maxRecords));
        const batch = this.#records.slice(this.#head, end);
        this.#head = end;
        if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
          this.#records = this.#records.slice(this.#head);
          this.#head = 0;
        }
        this.#wake(this.#writers);
        return batch;
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#readers.push(resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const batch = await this.readBatch(256);
      if (batch === null) return;
      yield* batch;
    }
  }

  #wake(waiters: (() => void)[]): void {
    const woken = waiters.splice(0);
    for (const resolve of woken) resolve();
  }
}

/**
 * The runner-facing output side of a role: writes go into `queue`; `end()` only says this attempt
 * has written everything (a restarted attempt may write more), so it does not close the queue.
 */
export function queueOutputChannel(queue: RecordQueue): OutputChannel {
  return {
    write: (record) => queue.write(record),
    writeBatch: (records) => queue.writeBatch(records),
    end: async () => {},
  };
}
