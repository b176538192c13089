// The pump's own rules against an in-memory ring with the real ring's contract (a bounded number
// of bytes, RecordTooLargeError for a record over capacity - 8, close rejects a pending write).
// Each real ring path (bridge-shm's transport, the Python host, the TensorFlow.js trainer) tests
// the same rules against the native ring.
import {
  type InputChannel,
  type OutputChannel,
  type PackedRecords,
  RecordTooLargeError,
} from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { pumpChannelIntoRing, pumpRingIntoChannel, type RingSink, type RingSource } from './ring-pump.js';

class MemoryRing implements RingSink, RingSource {
  readonly records: Uint8Array[] = [];
  ended = false;
  closedBy: 'writer' | 'reader' | undefined;
  attached = true;
  #wake: (() => void) | undefined;
  constructor(readonly maxRecordBytes: number) {}

  async writeBatch(records: readonly Uint8Array[]): Promise<void> {
    for (const record of records) {
      if (this.closedBy) throw new Error('the ring is closed');
      if (record.byteLength > this.maxRecordBytes)
        throw new RecordTooLargeError(record.byteLength, this.maxRecordBytes, 'ring memory');
      this.records.push(record);
    }
    this.#wake?.();
  }
  async end(): Promise<void> {
    this.ended = true;
    this.#wake?.();
  }
  async close(): Promise<void> {
    this.closedBy ??= 'writer';
    this.#wake?.();
  }
  async readBatch(maxRecords: number): Promise<Uint8Array[] | null> {
    for (;;) {
      if (this.records.length > 0) return this.records.splice(0, maxRecords);
      if (this.ended) return null;
      if (this.closedBy) throw new Error('the writer closed without an end marker');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
  writerAttached(): boolean {
    return this.attached;
  }
}

function inputOf(records: Uint8Array[]): InputChannel {
  let next = 0;
  return {
    async readBatch(maxRecords) {
      if (next >= records.length) return null;
      const batch = records.slice(next, next + maxRecords);
      next += batch.length;
      return batch;
    },
    async *[Symbol.asyncIterator]() {
      yield* records;
    },
  };
}

/** A channel holding its records packed in batches of `perBatch`, as a role's replay buffer does. */
function packedInputOf(records: Uint8Array[], perBatch: number): InputChannel & { packedReads: number } {
  const batches: PackedRecords[] = [];
  for (let from = 0; from < records.length; from += perBatch) {
    const batch = records.slice(from, from + perBatch);
    const offsets = new Uint32Array(batch.length + 1);
    for (const [index, record] of batch.entries()) offsets[index + 1] = offsets[index]! + record.byteLength;
    const data = new Uint8Array(offsets[batch.length]!);
    for (const [index, record] of batch.entries()) data.set(record, offsets[index]);
    batches.push({ data, offsets });
  }
  const channel = {
    packedReads: 0,
    async readPacked() {
      channel.packedReads += 1;
      return batches.shift() ?? null;
    },
    async readBatch(): Promise<Uint8Array[] | null> {
      throw new Error('a packed channel is read packed by a ring that takes packed records');
    },
    async *[Symbol.asyncIterator]() {},
  };
  return channel;
}

/** The memory ring taking packed records as the native ring does: all checked, then copied. */
class PackedMemoryRing extends MemoryRing {
  async writePacked({ data, offsets }: PackedRecords): Promise<void> {
    const records = Array.from({ length: offsets.length - 1 }, (_, index) =>
      data.slice(offsets[index], offsets[index + 1]),
    );
    await this.writeBatch(records);
  }
}

function collecting(): OutputChannel & { records: Uint8Array[]; ended: boolean } {
  const sink = {
    records: [] as Uint8Array[],
    ended: false,
    write: async (record: Uint8Array) => {
      sink.records.push(record);
    },
    writeBatch: async (batch: readonly Uint8Array[]) => {
      sink.records.push(...batch);
    },
    end: async () => {
      sink.ended = true;
    },
  };
  return sink;
}

describe('pumpChannelIntoRing', () => {
  it('moves every record in batches and ends the ring explicitly', async () => {
    const ring = new MemoryRing(64);
    const sent = Array.from({ length: 2_500 }, (_, index) => new Uint8Array([index & 255, index >> 8]));
    const pump = pumpChannelIntoRing({ input: inputOf(sent), writer: ring, batchRecords: 100 });
    expect(await pump.done).toEqual({ status: 'ended' });
    expect(ring.ended).toBe(true);
    expect(ring.records).toEqual(sent);
  });

  it('a record larger than the ring fails with both sizes, closes the ring without an end marker, and calls onFailure', async () => {
    const ring = new MemoryRing(4088);
    const failures: Error[] = [];
    const pump = pumpChannelIntoRing({
      input: inputOf([new Uint8Array(10), new Uint8Array(5_000)]),
      writer: ring,
      description: 'the test ring',
      tooLargeRemedy: (bytes) => `Use ${bytes + 8} bytes or more.`,
      onFailure: (error) => failures.push(error),
    });
    const outcome = await pump.done;
    expect(outcome.status).toBe('failed');
    const error = (outcome as { error: Error }).error;
    expect(RecordTooLargeError.isInstance(error)).toBe(true);
    expect(error.message).toBe(
      'A record of 5000 bytes does not fit the test ring, whose largest record is 4088 bytes (capacity - 8). Use 5008 bytes or more.',
    );
    expect(failures).toEqual([error]);
    expect(ring.ended).toBe(false);
    expect(ring.closedBy).toBe('writer');
    // The reader is not left waiting: it takes the record that fit, then sees the broken stream.
    expect(await ring.readBatch(10)).toHaveLength(1);
    await expect(ring.readBatch(10)).rejects.toThrow(/without an end marker/);
  });

  it('moves records packed when the channel holds them so and the ring takes them so', async () => {
    const ring = new PackedMemoryRing(64);
    const sent = Array.from({ length: 250 }, (_, index) => new Uint8Array([index, index >> 8, 1]));
    const input = packedInputOf(sent, 100);
    expect(await pumpChannelIntoRing({ input, writer: ring }).done).toEqual({ status: 'ended' });
    expect(input.packedReads).toBe(4); // three batches, then end-of-stream
    expect(ring.records).toEqual(sent);
    expect(ring.ended).toBe(true);
    // A ring without writePacked gets the same channel's records one by one.
    const plain = new MemoryRing(64);
    const records = await pumpChannelIntoRing({ input: inputOf(sent), writer: plain }).done;
    expect(records).toEqual({ status: 'ended' });
    expect(plain.records).toEqual(sent);
  });

  it('a packed record larger than the ring fails the same way, naming both sizes', async () => {
    const ring = new PackedMemoryRing(4088);
    const pump = pumpChannelIntoRing({
      input: packedInputOf([new Uint8Array(10), new Uint8Array(5_000)], 2),
      writer: ring,
      description: 'the test ring',
    });
    const outcome = await pump.done;
    expect(outcome.status).toBe('failed');
    const error = (outcome as { error: Error }).error;
    expect(RecordTooLargeError.isInstance(error)).toBe(true);
    expect(error.message).toMatch(
      /A record of 5000 bytes does not fit the test ring, whose largest record is 4088 bytes/,
    );
    expect(ring.ended).toBe(false);
    expect(ring.closedBy).toBe('writer');
  });

  it('a failing input channel fails the pump and closes the ring', async () => {
    const ring = new MemoryRing(64);
    const input: InputChannel = {
      readBatch: async () => {
        throw new Error('upstream operator crashed');
      },
      async *[Symbol.asyncIterator]() {},
    };
    const outcome = await pumpChannelIntoRing({ input, writer: ring, description: 'ring R' }).done;
    expect(outcome).toMatchObject({ status: 'failed' });
    expect((outcome as { error: Error }).error.message).toBe(
      'reading the records for ring R failed: upstream operator crashed',
    );
    expect(ring.closedBy).toBe('writer');
  });

  it('stop ends a pump waiting on its input, without failing', async () => {
    const ring = new MemoryRing(64);
    const input: InputChannel = {
      readBatch: () => new Promise(() => {}),
      async *[Symbol.asyncIterator]() {},
    };
    const pump = pumpChannelIntoRing({ input, writer: ring });
    pump.stop();
    expect(await pump.done).toEqual({ status: 'stopped' });
    expect(ring.ended).toBe(false);
  });
});

describe('pumpRingIntoChannel', () => {
  it('delivers what the writer wrote before it exited, then ends the channel', async () => {
    const ring = new MemoryRing(64);
    const output = collecting();
    const pump = pumpRingIntoChannel({ reader: ring, output, endOutput: true });
    await ring.writeBatch([new Uint8Array([1]), new Uint8Array([2])]);
    await ring.end();
    pump.writerExited();
    expect(await pump.done).toEqual({ status: 'ended' });
    expect(output.records).toEqual([new Uint8Array([1]), new Uint8Array([2])]);
    expect(output.ended).toBe(true);
  });

  it('ends at once when the writer exited without ever attaching', async () => {
    const ring = new MemoryRing(64);
    ring.attached = false;
    const pump = pumpRingIntoChannel({ reader: ring, output: collecting() });
    pump.writerExited();
    expect(await pump.done).toEqual({ status: 'stopped' });
  });

  it('a ring that breaks off without an end marker is a failure naming why', async () => {
    const ring = new MemoryRing(64);
    const pump = pumpRingIntoChannel({ reader: ring, output: collecting(), endOutput: true });
    await ring.close();
    const outcome = await pump.done;
    expect(outcome.status).toBe('failed');
    expect((outcome as { error: Error }).error.message).toMatch(
      /the runner's output did not end cleanly: the writer closed without an end marker/,
    );
  });
});
