/**
 * The producing end of a ring. Writes copy records into shared memory on the calling thread while
 * they fit; when the ring is full the wait happens on the addon's waiter thread and the returned
 * promise resolves once the reader has made room (backpressure). See RING.md.
 */
import { ConfigError, type PackedRecords } from '@millrace/core';
import { ChannelClosedError, RecordTooLargeError, toRingError } from './errors.js';
import type { NativeRingHandle } from './native-binding.js';
import { OperationQueue, openRing, type RingOpenOptions } from './ring-options.js';

export class RingWriter {
  readonly path: string;
  readonly capacityBytes: number;
  /** The largest record this ring accepts (capacity - 8); larger ones are rejected (RING.md §3). */
  readonly maxRecordBytes: number;
  readonly codec: string;
  readonly #native: NativeRingHandle;
  readonly #timeoutMs: number;
  readonly #attachTimeoutMs: number;
  readonly #queue = new OperationQueue();
  #state: 'open' | 'ended' | 'closed' = 'open';

  private constructor(path: string, options: RingOpenOptions) {
    const opened = openRing(path, 'writer', options);
    this.path = path;
    this.#native = opened.native;
    this.capacityBytes = opened.capacityBytes;
    this.maxRecordBytes = opened.maxRecordBytes;
    this.codec = opened.codec;
    this.#timeoutMs = opened.timeoutMs;
    this.#attachTimeoutMs = opened.attachTimeoutMs;
  }

  /** Attaches as the ring's only writer (from any process or worker thread). */
  static async open(path: string, options: RingOpenOptions = {}): Promise<RingWriter> {
    return new RingWriter(path, options);
  }

  /**
   * Bytes written and not yet released by the reader (`write_position - read_position`, RING.md
   * §2), in `[0, capacityBytes]`; 0 once closed. A cheap read of the shared header, for metrics.
   */
  get usedBytes(): number {
    if (this.#state === 'closed') return 0;
    const { writePosition, readPosition } = this.#native.stats();
    return Math.max(0, writePosition - readPosition);
  }

  /** Resolves once the record is in the ring. */
  write(record: Uint8Array): Promise<void> {
    return this.writeBatch([record]);
  }

  /** Writes records in order, many per native call; resolves once all are in the ring. */
  writeBatch(records: readonly Uint8Array[]): Promise<void> {
    return this.#queue.run(async () => {
      this.#assertOpen('write');
      if (!Array.isArray(records)) {
        throw new ConfigError([{ path: 'records', message: 'must be an array of Uint8Array' }], {
          subject: 'RingWriter.writeBatch',
        });
      }
      for (let index = 0; index < records.length; index++) {
        const record = records[index];
        if (!(record instanceof Uint8Array)) {
          throw new ConfigError([{ path: `records[${index}]`, message: 'must be a Uint8Array' }], {
            subject: 'RingWriter.writeBatch',
          });
        }
        if (record.byteLength > this.maxRecordBytes) {
          throw new RecordTooLargeError(record.byteLength, this.maxRecordBytes, `ring ${this.path}`);
        }
      }
      let start = 0;
      while (start < records.length) {
        start += this.#call(() => this.#native.tryWriteBatch(records, start));
        if (start < records.length) await this.#waitWritable();
      }
    });
  }

  /**
   * Writes records that are already packed (record i is `data[offsets[i] … offsets[i + 1])`): the
   * fastest way to write many records, one native call and one copy, no JavaScript object per
   * record; resolves once all are in the ring. A record larger than the ring rejects with
   * RecordTooLargeError before anything of the batch is written.
   */
  writePacked({ data, offsets }: PackedRecords): Promise<void> {
    return this.#queue.run(async () => {
      this.#assertOpen('write');
      if (!(data instanceof Uint8Array) || !(offsets instanceof Uint32Array)) {
        throw new ConfigError(
          [{ path: 'data, offsets', message: 'must be a Uint8Array and a Uint32Array' }],
          { subject: 'RingWriter.writePacked' },
        );
      }
      const count = Math.max(0, offsets.length - 1);
      for (let index = 0; index < count; index++) {
        const bytes = offsets[index + 1]! - offsets[index]!;
        if (bytes > this.maxRecordBytes)
          throw new RecordTooLargeError(bytes, this.maxRecordBytes, `ring ${this.path}`);
      }
      let start = 0;
      while (start < count) {
        start += this.#call(() => this.#native.tryWritePacked(data, offsets, start));
        if (start < count) await this.#waitWritable();
      }
    });
  }

  /** Writes the explicit end-of-stream marker; the reader sees `null` after every earlier record. */
  end(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === 'ended') return;
      this.#assertOpen('end');
      while (!this.#call(() => this.#native.tryWriteEnd())) await this.#waitWritable();
      this.#state = 'ended';
    });
  }

  /**
   * Detaches. Without a prior `end()` the reader gets a ChannelClosedError instead of end-of-stream.
   * A pending write rejects with ChannelClosedError. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#native.close();
  }

  #assertOpen(operation: string): void {
    if (this.#state === 'closed')
      throw new ChannelClosedError('local', `cannot ${operation}: ring writer ${this.path} is closed`);
    if (this.#state === 'ended')
      throw new ChannelClosedError('local', `cannot ${operation}: ring ${this.path} has already ended`);
  }

  #call<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw toRingError(error, { path: this.path, operation: 'write' });
    }
  }

  async #waitWritable(): Promise<void> {
    try {
      await this.#native.waitWritable(this.#timeoutMs);
    } catch (error) {
      throw toRingError(error, {
        path: this.path,
        operation: `space in ring ${this.path}`,
        timeoutMs: this.#timeoutMs,
        attachTimeoutMs: this.#attachTimeoutMs,
      });
    }
  }
}
