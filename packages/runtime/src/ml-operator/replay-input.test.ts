import type { PackedRecords } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { ReplayInput } from './replay-input.js';

const record = (value: number) => new Uint8Array([value]);
const values = (batch: Uint8Array[] | null) => (batch ?? []).map((bytes) => bytes[0]);
const packedValues = (packed: PackedRecords | null) =>
  packed ? Array.from(packed.offsets.subarray(0, -1), (offset) => packed.data[offset]) : null;

describe('ReplayInput', () => {
  it('a new attempt receives exactly the records after the acknowledged position, then the rest', async () => {
    const input = new ReplayInput({ replay: true, subject: 'worker[0]' });
    await input.writeBatch([1, 2, 3, 4, 5, 6].map(record));
    const first = input.openAttempt();
    expect(first.resumePosition).toBe(0);
    expect(values(await first.channel.readBatch(4))).toEqual([1, 2, 3, 4]);
    input.acknowledge(2);
    const second = input.openAttempt(); // the first runner died
    expect(second.resumePosition).toBe(2);
    expect(await first.channel.readBatch(10)).toBeNull(); // a dead runner's pump takes nothing
    expect(values(await second.channel.readBatch(10))).toEqual([3, 4, 5, 6]);
    expect(input.recordsReplayed).toBe(2);
    expect(input.recordsDelivered).toBe(6);
  });

  it('packed reads take the same records from the same position, and replay the same way', async () => {
    const input = new ReplayInput({ replay: true, subject: 'worker[0]' });
    await input.writeBatch([1, 2, 3, 4].map(record));
    await input.writeBatch([5, 6].map(record));
    const first = input.openAttempt();
    expect(packedValues(await first.channel.readPacked!(3))).toEqual([1, 2, 3]);
    expect(values(await first.channel.readBatch(2))).toEqual([4, 5]); // mixed with plain reads
    expect(packedValues(await first.channel.readPacked!(10))).toEqual([6]);
    input.acknowledge(3);
    const second = input.openAttempt();
    // Positions 4 … 6 again, packed per segment they were written in.
    expect(packedValues(await second.channel.readPacked!(10))).toEqual([4]);
    expect(packedValues(await second.channel.readPacked!(10))).toEqual([5, 6]);
    input.end();
    expect(await second.channel.readPacked!(10)).toBeNull();
    expect(input.recordsDelivered).toBe(6);
    expect(input.recordsReplayed).toBe(3);
  });

  it('says how full it is: the largest share of its bounds, 1 when the role operator must wait', async () => {
    const input = new ReplayInput({ replay: true, subject: 'worker[0]', maxRecords: 8, maxUnread: 4 });
    expect(input.fill).toBe(0);
    await input.writeBatch([1, 2].map(record));
    expect(input.fill).toBe(0.5); // 2 unread of 4
    const attempt = input.openAttempt();
    await attempt.channel.readBatch(2);
    expect(input.fill).toBe(0.25); // read, held for replay: 2 of 8
    await input.writeBatch([3, 4, 5, 6].map(record));
    expect(input.fill).toBe(1); // 4 unread of 4: a further write waits
    input.acknowledge(2);
    expect(input.held.records).toBe(4);
  });

  it('closing an attempt resolves its pending read with null instead of taking the next batch', async () => {
    const input = new ReplayInput({ replay: false, subject: 'worker[0]' });
    const attempt = input.openAttempt();
    const pending = attempt.channel.readBatch(10);
    attempt.close();
    await input.writeBatch([record(7)]);
    expect(await pending).toBeNull();
    const next = input.openAttempt();
    expect(values(await next.channel.readBatch(10))).toEqual([7]);
  });

  it('replay off: records a stopped runner took are counted as not replayed', async () => {
    const input = new ReplayInput({ replay: false, subject: 'worker[0]' });
    await input.writeBatch([1, 2, 3].map(record));
    const first = input.openAttempt();
    await first.channel.readBatch(2);
    const second = input.openAttempt();
    expect(second.resumePosition).toBe(2);
    expect(values(await second.channel.readBatch(10))).toEqual([3]);
    expect(input.recordsNotReplayed).toBe(2);
  });

  it('tells listeners which records an acknowledgement covers, and refuses positions not read yet', async () => {
    const input = new ReplayInput({ replay: true, subject: 'worker[1]' });
    const seen: { previous: number; position: number; records: number[] }[] = [];
    input.onAcknowledged(({ previous, position, records }) =>
      seen.push({ previous, position, records: records.map((bytes) => bytes[0]!) }),
    );
    await input.writeBatch([1, 2, 3, 4].map(record));
    const attempt = input.openAttempt();
    await attempt.channel.readBatch(3);
    input.acknowledge(2);
    input.acknowledge(2); // repeated: nothing new
    input.acknowledge(3);
    expect(seen).toEqual([
      { previous: 0, position: 2, records: [1, 2] },
      { previous: 2, position: 3, records: [3] },
    ]);
    expect(() => input.acknowledge(4)).toThrow(/worker\[1\] checkpointed\(position\).*only 3 records/);
    expect(() => input.acknowledge(-1)).toThrow(/non-negative integer/);
  });

  it('a full buffer makes the writer wait until a checkpoint frees room (bounded memory)', async () => {
    const input = new ReplayInput({ replay: true, maxRecords: 4, subject: 'worker[0]' });
    const attempt = input.openAttempt();
    let written = 0;
    const writing = (async () => {
      for (let i = 1; i <= 10; i++) {
        await input.write(record(i));
        written = i;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toBe(4);
    expect(values(await attempt.channel.readBatch(10))).toEqual([1, 2, 3, 4]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toBe(4); // read but not acknowledged: still held
    input.acknowledge(4);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toBe(8);
    expect(input.held.records).toBe(4);
    input.acknowledge(4);
    await attempt.channel.readBatch(10);
    input.acknowledge(8);
    await writing;
    expect(written).toBe(10);
  });

  it('fails with a named timeout when a full buffer is all read and no checkpoint comes', async () => {
    const input = new ReplayInput({
      replay: true,
      maxRecords: 2,
      acknowledgeTimeoutMs: 50,
      subject: 'worker[0]',
    });
    const attempt = input.openAttempt();
    await input.writeBatch([record(1), record(2)]);
    const blocked = input.write(record(3));
    await attempt.channel.readBatch(10);
    await expect(attempt.channel.readBatch(10)).rejects.toThrow(
      /replay buffer is full.*Checkpoint more often/,
    );
    await expect(blocked).rejects.toThrow(/replay buffer is full/);
  });

  it('bounds bytes as well as records', async () => {
    const input = new ReplayInput({ replay: true, maxBytes: 10, subject: 'worker[0]' });
    const attempt = input.openAttempt();
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 4; i++) {
        await input.write(new Uint8Array(6));
        written += 1;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toBe(2);
    expect(input.held.bytes).toBe(12);
    await attempt.channel.readBatch(10);
    input.acknowledge(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toBe(4);
    await attempt.channel.readBatch(10);
    input.acknowledge(4);
    await writing;
    expect(input.held).toEqual({ records: 0, bytes: 0 });
  });
});
