import { runJobModule } from '@millrace/dataflow';
import { childProcessesOf } from '@millrace/runtime/testing';
import { describe, expect, it } from 'vitest';
import { job } from '../../examples/stream-to-cluster/src/main.mjs';

describe('examples/stream-to-cluster', () => {
  it('the two runner processes together receive every number once; their sums add up', async () => {
    const lines: string[] = [];
    await runJobModule(job, {
      args: ['--count', '20000'],
      signal: new AbortController().signal,
      log: (line) => lines.push(line),
    });
    expect(process.exitCode ?? 0).toBe(0);
    expect(lines.at(-1)).toBe('total 200010000 = 20000·20001/2 ✓');
    const counts = lines
      .filter((line) => line.startsWith('summer['))
      .map((line) => Number(/: (\d+) records/.exec(line)![1]));
    expect(counts).toHaveLength(2);
    expect(counts.every((count) => count > 0)).toBe(true);
    expect(childProcessesOf()).toEqual([]);
  });
});
