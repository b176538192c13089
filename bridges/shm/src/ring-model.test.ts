// Property: whatever the interleaving of batched writes and reads, and whatever the record sizes
// (up to the largest record, so the wrap rule of RING.md §3 is exercised constantly), the reader
// sees exactly the records written, in order, then end-of-stream.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';
import { testRing } from './test-support.js';

const capacity = 4096;

type Step = { kind: 'write'; sizes: number[] } | { kind: 'read'; max: number };

const recordSize = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 64 }) },
  { weight: 3, arbitrary: fc.integer({ min: 65, max: 1500 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1501, max: capacity - 8 }) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    sizes: fc.array(recordSize, { minLength: 1, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('read' as const), max: fc.integer({ min: 1, max: 20 }) }),
);

function content(sequence: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let index = 0; index < size; index++) bytes[index] = (sequence * 131 + index * 7) & 255;
  return bytes;
}

describe('ring model', () => {
  it('preserves order and content under any interleaving of writes and reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const { path } = await testRing(capacity);
        const writer = await RingWriter.open(path);
        const reader = await RingReader.open(path);
        const expected: Uint8Array[] = [];
        let sequence = 0;
        const received: Uint8Array[] = [];
        // Writes are not awaited (a full ring holds them back until a later read makes room);
        // reads are awaited only when a record is already promised, so nothing can deadlock.
        const writes: Promise<void>[] = [];
        try {
          for (const current of steps) {
            if (current.kind === 'write') {
              const records = current.sizes.map((size) => content(sequence++, size));
              expected.push(...records);
              writes.push(writer.writeBatch(records));
            } else if (received.length < expected.length) {
              const batch = await reader.readBatch(Math.min(current.max, expected.length - received.length));
              expect(batch).not.toBeNull();
              received.push(...batch!);
            }
          }
          const ending = Promise.all(writes).then(() => writer.end());
          for (;;) {
            const batch = await reader.readBatch(64);
            if (batch === null) break;
            received.push(...batch);
          }
          await ending;
          expect(received.length).toBe(expected.length);
          for (const [index, record] of received.entries()) expect(record).toEqual(expected[index]);
        } finally {
          await writer.close();
          await reader.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
