import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Job } from './index.js';

interface Event {
  key: string;
  value: number;
  time: number;
}

const events = fc.array(
  fc.record({
    key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    value: fc.integer({ min: -100, max: 100 }),
    time: fc.nat(1_000),
  }),
  { maxLength: 300 },
);
const shapes = fc.record({
  sourceParallelism: fc.integer({ min: 1, max: 3 }),
  parallelism: fc.integer({ min: 1, max: 3 }),
  batchSize: fc.integer({ min: 1, max: 40 }),
  channelCapacity: fc.integer({ min: 1, max: 3 }),
});

function sumsByKey(records: readonly Event[]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const record of records) sums[record.key] = (sums[record.key] ?? 0) + record.value;
  return sums;
}

describe('properties: results do not depend on parallelism, batch size or channel capacity', () => {
  it('keyed state sums equal a plain loop', async () => {
    await fc.assert(
      fc.asyncProperty(events, shapes, async (input, shape) => {
        const job = new Job({ batchSize: shape.batchSize, channelCapacity: shape.channelCapacity });
        const out = job
          .generate((i) => input[i]!, { count: input.length, parallelism: shape.sourceParallelism })
          .map((e) => e, { parallelism: shape.parallelism })
          .keyBy((e) => e.key)
          .process<number, [string, number]>(
            {
              processElement(event, context) {
                context.state.set((context.state.get() ?? 0) + event.value);
              },
              onEnd(context) {
                for (const entry of context.entries()) context.emit(entry);
              },
            },
            { parallelism: shape.parallelism },
          )
          .collect();
        await job.execute();
        expect(Object.fromEntries(out.records)).toEqual(sumsByKey(input));
      }),
      { numRuns: 40 },
    );
  });

  it('tumbling-window counts equal a plain loop when every producer sends in time order', async () => {
    await fc.assert(
      fc.asyncProperty(events, shapes, async (unsorted, shape) => {
        const input = [...unsorted].sort((a, b) => a.time - b.time);
        const job = new Job({ batchSize: shape.batchSize, channelCapacity: shape.channelCapacity });
        const out = job
          // Generator subtask s takes indices s, s+p, …: each producer's records stay in time order.
          .generate((i) => input[i]!, { count: input.length, parallelism: shape.sourceParallelism })
          .keyBy((e) => e.key)
          .tumblingWindow(
            { sizeMs: 100, timestamp: (e) => e.time },
            { create: () => 0, add: (n: number) => n + 1, result: (n, w) => `${w.key}@${w.start}=${n}` },
            { parallelism: shape.parallelism, name: 'window' },
          )
          .collect();
        const result = await job.execute();
        const expected = new Map<string, number>();
        for (const e of input) {
          const id = `${e.key}@${Math.floor(e.time / 100) * 100}`;
          expected.set(id, (expected.get(id) ?? 0) + 1);
        }
        expect([...out.records].sort()).toEqual([...expected].map(([id, n]) => `${id}=${n}`).sort());
        expect(result.metrics.find((m) => m.operator === 'window')?.extra.lateRecordsDropped).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });
});
