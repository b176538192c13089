import { describe, expect, it } from 'vitest';
import { Job } from './index.js';

describe('element-wise operators', () => {
  it('map, filter and flatMap keep order at parallelism 1', async () => {
    const job = new Job({ batchSize: 7 });
    const out = job
      .fromIterable([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      .map((x) => x * 10)
      .filter((x) => x % 20 !== 0)
      .flatMap((x) => [x, x + 1])
      .collect();
    const result = await job.execute();
    expect(result.status).toBe('finished');
    expect(out.records).toEqual([10, 11, 30, 31, 50, 51, 70, 71, 90, 91]);
  });

  it('awaits async user functions in order', async () => {
    const job = new Job({ batchSize: 3 });
    const out = job
      .fromIterable(['a', 'b', 'c', 'd', 'e'])
      .map(async (letter) => {
        await new Promise((resolve) => setTimeout(resolve, letter === 'b' ? 20 : 1));
        return letter.toUpperCase();
      })
      .filter(async (letter) => letter !== 'C')
      .collect();
    await job.execute();
    expect(out.records).toEqual(['A', 'B', 'D', 'E']);
  });

  it('mapBatches hands whole batches to the function, split at maxBatchSize', async () => {
    const job = new Job({ batchSize: 10 });
    const sizes: number[] = [];
    const out = job
      .fromIterable(Array.from({ length: 25 }, (_, i) => i))
      .mapBatches(
        async (batch) => {
          sizes.push(batch.length);
          return batch.map((x) => x * 2);
        },
        { maxBatchSize: 4 },
      )
      .collect();
    await job.execute();
    expect(out.records).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
    expect(Math.max(...sizes)).toBe(4);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
  });
});
