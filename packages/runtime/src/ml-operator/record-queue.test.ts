import { CancelledError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { RecordQueue } from './record-queue.js';

const record = (n: number) => new Uint8Array([n]);

describe('RecordQueue', () => {
  it('hands records to the reader in order and ends after the last one', async () => {
    const queue = new RecordQueue(10);
    await queue.writeBatch([record(1), record(2), record(3)]);
    queue.end();
    expect(await queue.readBatch(2)).toEqual([record(1), record(2)]);
    expect(await queue.readBatch(2)).toEqual([record(3)]);
    expect(await queue.readBatch(2)).toBeNull();
  });

  it('makes writers wait while it is full (backpressure) and wakes them as the reader takes', async () => {
    const queue = new RecordQueue(2);
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 5; i++) {
        await queue.write(record(i));
        written += 1;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(written).toBe(2);
    const seen: number[] = [];
    while (seen.length < 5) for (const bytes of (await queue.readBatch(1))!) seen.push(bytes[0]!);
    await writing;
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('fail() releases a waiting reader and writer with the reason', async () => {
    const queue = new RecordQueue(1);
    await queue.write(record(0));
    const writer = queue.write(record(1));
    const empty = new RecordQueue(1);
    const reader = empty.readBatch(1);
    queue.fail(new CancelledError('stopped'));
    empty.fail(new CancelledError('stopped'));
    await expect(writer).rejects.toThrow('stopped');
    await expect(reader).rejects.toThrow('stopped');
  });

  it('is an async iterable for runners that read record by record', async () => {
    const queue = new RecordQueue(4);
    await queue.writeBatch([record(5), record(6)]);
    queue.end();
    const seen: number[] = [];
    for await (const bytes of queue) seen.push(bytes[0]!);
    expect(seen).toEqual([5, 6]);
  });
});
