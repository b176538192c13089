/**
 * The consuming end of a ring. Reads copy a batch of records out of shared memory in one native
 * call (so the writer gets the space back at once); when the ring is empty the wait happens on the
 * addon's waiter thread. End-of-stream is explicit: `null` from read/readBatch, the end of iteration.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError } from '@millrace/core';
import { ChannelClosedError, toRingError } from './errors.js';
import type { NativeRingHandle } from './native-binding.js';
import { OperationQueue, openRing, type RingOpenOptions } from './ring-options.js';

/** `writer_pid` in the ring header (RING.md §2). */
const writerPidOffset = 32;

/** Bytes copied out per native call at most (a single larger record still comes whole). */
const batchByteLimit = 8 * 1024 * 1024;

export class RingReader implements AsyncIterable<Uint8Array> {
  readonly path: string;
  readonly capacityBytes: number;
  readonly maxRecordBytes: number;
  readonly codec: string;
  readonly #native: NativeRingHandle;
  readonly #timeoutMs: number;
  readonly #attachTimeoutMs: number;
  readonly #queue = new OperationQueue();
  #buffered: Uint8Array[] = [];
  #bufferedIndex = 0;
  #state: 'open' | 'ended' | 'closed' = 'open';

  private constructor(path: string, options: RingOpenOptions) {
    const opened = openRing(path, 'reader', options);
    this.path = path;
    this.#native = opened.native;
    this.capacityBytes = opened.capacityBytes;
    this.maxRecordBytes = opened.maxRecordBytes;
    this.codec = opened.codec;
    this.#timeoutMs = opened.timeoutMs;
    this.#attachTimeoutMs = opened.attachTimeoutMs;
  }

  /** Attaches as the ring's only reader (from any process or worker thread). */
  static async open(path: string, options: RingOpenOptions = {}): Promise<RingReader> {
    return new RingReader(path, options);
  }

  /** The next record, or `null` at end-of-stream. */
  async read(): Promise<Uint8Array | null> {
    if (this.#bufferedIndex < this.#buffered.length) return this.#takeBuffered();
    const batch = await this.readBatch(256);
    if (batch === null) return null;
    this.#buffered = batch;
    this.#bufferedIndex = 0;
    return this.#takeBuffered();
  }

  /** Up to `maxRecords` records (at least one, waiting for it), or `null` at end-of-stream. */
  readBatch(maxRecords = 1024): Promise<Uint8Array[] | null> {
    return this.#queue.run(async () => {
      if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
        throw new ConfigError(
          [{ path: 'maxRecords', message: `must be a positive integer (got ${maxRecords})` }],
          {
            subject: 'RingReader.readBatch',
          },
        );
      }
      if (this.#bufferedIndex < this.#buffered.length) {
        const records = this.#buffered.slice(this.#bufferedIndex, this.#bufferedIndex + maxRecords);
        this.#bufferedIndex += records.length;
        return records;
      }
      for (;;) {
        if (this.#state === 'ended') return null;
        if (this.#state === 'closed')
          throw new ChannelClosedError('local', `ring reader ${this.path} is closed`);
        const batch = this.#tryRead(maxRecords);
        if (batch === null) {
          this.#state = 'ended';
          return null;
        }
        if (batch !== undefined) return batch;
        await this.#waitReadable();
      }
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const batch = await this.readBatch(1024);
      if (batch === null) return;
      yield* batch;
    }
  }

  /**
   * Whether a writer has attached to this ring (`writer_pid` of the header, RING.md §2, is set on
   * attach). True once the file is gone: both sides attached and detached.
   */
  writerAttached(): boolean {
    const header = Buffer.alloc(4);
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'r');
      readSync(fd, header, 0, 4, writerPidOffset);
    } catch {
      return true;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    return header.readUInt32LE(0) !== 0;
  }

  /** Detaches; the writer's next write (or pending wait) fails with ChannelClosedError. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#native.close();
  }

  #takeBuffered(): Uint8Array {
    const record = this.#buffered[this.#bufferedIndex++]!;
    if (this.#bufferedIndex === this.#buffered.length) {
      this.#buffered = [];
      this.#bufferedIndex = 0;
    }
    return record;
  }

  #tryRead(maxRecords: number): Uint8Array[] | null | undefined {
    let result: ReturnType<NativeRingHandle['tryReadBatch']>;
    try {
      result = this.#native.tryReadBatch(maxRecords, batchByteLimit);
    } catch (error) {
      throw toRingError(error, { path: this.path, operation: 'read' });
    }
    if (result === null || result === undefined) return result;
    const [buffer, bounds] = result;
    const records = new Array<Uint8Array>(bounds.length / 2);
    for (let index = 0; index < records.length; index++) {
      records[index] = new Uint8Array(
        buffer,
        bounds[2 * index]!,
        bounds[2 * index + 1]! - bounds[2 * index]!,
      );
    }
    return records;
  }

  async #waitReadable(): Promise<void> {
    try {
      await this.#native.waitReadable(this.#timeoutMs);
    } catch (error) {
      throw toRingError(error, {
        path: this.path,
        operation: `data in ring ${this.path}`,
        timeoutMs: this.#timeoutMs,
        attachTimeoutMs: this.#attachTimeoutMs,
      });
    }
  }
}
