import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { StopLatch } from './stop-latch.js';

describe('StopLatch', () => {
  it('gives the work its outcome, or the stop value once stopped', async () => {
    const latch = new StopLatch<'stopped'>();
    await expect(latch.race(Promise.resolve(1))).resolves.toBe(1);
    await expect(latch.race(Promise.reject(new Error('read failed')))).rejects.toThrow('read failed');
    const pending = latch.race(new Promise<number>(() => {}));
    latch.stop('stopped');
    await expect(pending).resolves.toBe('stopped');
    await expect(latch.race(Promise.resolve(2))).resolves.toBe('stopped');
  });

  it('keeps nothing of settled work reachable, where Promise.race against a pending promise keeps it all', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const collectedAfter = async (race: (work: Promise<Uint8Array[]>) => Promise<unknown>) => {
      const collected = new Set<number>();
      const registry = new FinalizationRegistry<number>((batch) => collected.add(batch));
      for (let batch = 0; batch < 50; batch++) {
        const records = [new Uint8Array(1024)];
        registry.register(records, batch);
        await race(Promise.resolve(records));
      }
      for (let round = 0; round < 20 && collected.size < 49; round++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return collected.size;
    };
    const latch = new StopLatch<null>();
    const never = new Promise<null>(() => {});
    // The last batch may still be referenced by the loop's frame; none of the others.
    expect(await collectedAfter((work) => latch.race(work))).toBeGreaterThanOrEqual(49);
    expect(await collectedAfter((work) => Promise.race([work, never]))).toBeLessThanOrEqual(1);
  });
});
