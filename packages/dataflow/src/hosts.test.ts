import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@millrace/core';
import { afterAll, describe, expect, it } from 'vitest';
import { Job } from './job.js';

// On N hosts each host's sources read its share: position p belongs to host p mod N.
const directory = mkdtempSync(join(tmpdir(), 'millrace-hosts-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function shares<T>(count: number, build: (job: Job) => { records: readonly T[] }): Promise<T[][]> {
  const result: T[][] = [];
  for (let index = 0; index < count; index++) {
    const job = new Job({ hosts: { count, index }, batchSize: 4 });
    const collected = build(job);
    await job.execute();
    result.push([...collected.records]);
  }
  return result;
}

describe('sources on several hosts', () => {
  it('generate: host h makes the indexes ≡ h (mod N), whatever its parallelism', async () => {
    const byHost = await shares(3, (job) => job.generate((i) => i, { count: 50, parallelism: 2 }).collect());
    byHost.forEach((indexes, host) => {
      expect(indexes.every((i) => i % 3 === host)).toBe(true);
    });
    expect(byHost.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('fromIterable (array and generator) and fromLines: element p goes to host p mod N', async () => {
    const array = Array.from({ length: 23 }, (_, i) => `a${i}`);
    const fromArray = await shares(2, (job) => job.fromIterable(array).collect());
    expect(fromArray).toEqual([array.filter((_, i) => i % 2 === 0), array.filter((_, i) => i % 2 === 1)]);

    const fromGenerator = await shares(3, (job) =>
      job
        .fromIterable(function* () {
          for (let i = 0; i < 20; i++) yield i;
        })
        .collect(),
    );
    fromGenerator.forEach((values, host) => {
      expect(values.every((value) => value % 3 === host)).toBe(true);
    });
    expect(fromGenerator.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));

    const file = join(directory, 'lines.txt');
    writeFileSync(file, Array.from({ length: 11 }, (_, i) => `line ${i}`).join('\n'));
    const fromLines = await shares(2, (job) => job.fromLines(file).collect());
    expect(fromLines[0]).toEqual(['line 0', 'line 2', 'line 4', 'line 6', 'line 8', 'line 10']);
    expect(fromLines[1]).toEqual(['line 1', 'line 3', 'line 5', 'line 7', 'line 9']);
  });

  it('a host index outside the hosts is refused by name', () => {
    expect(() => new Job({ hosts: { count: 2, index: 2 } })).toThrow(ConfigError);
    expect(() => new Job({ hosts: { count: 2, index: 2 } })).toThrow(/index: must be an integer from 0 to 1/);
  });
});
