/**
 * The bounded queue in front of one subtask. Every upstream subtask that feeds it pushes whole
 * batches; when `capacity` batches are queued, `push` returns a promise that settles only once
 * the consumer has taken one — that is the backpressure that travels, hop by hop, back to the
 * sources. Batches from one producer are delivered in the order it pushed them.
 *
 * A subtask may have several logical inputs (union, connect, join); each message says which one.
 * An input ends when every producer of that input has called `endInput`.
 */
import { CancelledError } from '@millrace/core';

/**
 * A batch from one producer (upstream subtask), or the end of one producer's part of an input;
 * `last` marks the end of the whole input (every producer of it ended).
 */
export type ChannelMessage<T> =
  | { readonly input: number; readonly producer: number; readonly records: T[]; readonly end?: undefined }
  | {
      readonly input: number;
      readonly producer: number;
      readonly records?: undefined;
      readonly end: true;
      readonly last: boolean;
    };

interface WaitingProducer<T> {
  message: ChannelMessage<T>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class BoundedChannel<T> {
  readonly #capacity: number;
  readonly #queue: ChannelMessage<T>[] = [];
  #head = 0;
  readonly #waitingProducers: WaitingProducer<T>[] = [];
  #waitingConsumer: {
    resolve: (message: ChannelMessage<T> | null) => void;
    reject: (e: unknown) => void;
  } | null = null;
  readonly #openProducers: number[];
  #openInputs: number;
  #failure: unknown = null;
  /** End markers among the queued messages: they take a slot but are not batches. */
  #endsQueued = 0;

  /** @param producersPerInput how many upstream subtasks feed each input (index = input). */
  constructor(capacity: number, producersPerInput: readonly number[]) {
    this.#capacity = capacity;
    this.#openProducers = [...producersPerInput];
    this.#openInputs = producersPerInput.length;
  }

  /** How many batches it queues before a producer waits. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Messages queued right now: batches and end markers. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Batches queued right now (the metrics' level): at most `capacity`. An end marker is queued
   * without waiting for room when no batch waits, so `size` can pass the capacity by the ends.
   */
  get queuedBatches(): number {
    return this.size - this.#endsQueued;
  }

  /** Queues a batch; returns a promise only when the channel is full (await it: backpressure). */
  push(input: number, producer: number, records: T[]): Promise<void> | undefined {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const message: ChannelMessage<T> = { input, producer, records };
    if (this.size < this.#capacity && this.#waitingProducers.length === 0) {
      this.#deliver(message);
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      this.#waitingProducers.push({ message, resolve, reject });
    });
  }

  /** One producer of `input` is done; the consumer sees that after the producer's last batch. */
  async endInput(input: number, producer: number): Promise<void> {
    if (this.#failure !== null) throw this.#failure;
    const remaining = (this.#openProducers[input] ?? 0) - 1;
    this.#openProducers[input] = remaining;
    // The end marker must queue behind batches still waiting for room, so it waits like one.
    const message: ChannelMessage<T> = { input, producer, end: true, last: remaining === 0 };
    if (this.#waitingProducers.length === 0) this.#deliver(message);
    else
      await new Promise<void>((resolve, reject) => this.#waitingProducers.push({ message, resolve, reject }));
  }

  /** The next message, or `null` once every input has ended and everything was taken. */
  pull(): Promise<ChannelMessage<T> | null> | ChannelMessage<T> | null {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.size > 0) return this.#take();
    if (this.#openInputs === 0) return null;
    return new Promise((resolve, reject) => {
      this.#waitingConsumer = { resolve, reject };
    });
  }

  /** Fails every waiting and future call; used when the job is cancelled or fails. */
  cancel(reason: unknown = new CancelledError('The job was cancelled')): void {
    if (this.#failure !== null) return;
    this.#failure = reason;
    for (const producer of this.#waitingProducers.splice(0)) producer.reject(reason);
    const consumer = this.#waitingConsumer;
    this.#waitingConsumer = null;
    consumer?.reject(reason);
    this.#queue.length = 0;
    this.#head = 0;
    this.#endsQueued = 0;
  }

  #deliver(message: ChannelMessage<T>): void {
    if (message.end && message.last) this.#openInputs -= 1;
    const consumer = this.#waitingConsumer;
    if (consumer !== null) {
      this.#waitingConsumer = null;
      consumer.resolve(message);
      return;
    }
    if (message.end) this.#endsQueued += 1;
    this.#queue.push(message);
  }

  #take(): ChannelMessage<T> {
    const message = this.#queue[this.#head]!;
    this.#queue[this.#head] = undefined as never;
    this.#head += 1;
    if (message.end) this.#endsQueued -= 1;
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    const waiting = this.#waitingProducers.shift();
    if (waiting !== undefined) {
      this.#deliver(waiting.message);
      waiting.resolve();
    }
    return message;
  }
}
