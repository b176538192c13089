import { Job } from '@millrace/dataflow';
import { describe, expect, it } from 'vitest';
// The example's own modules: the test checks the code a user would copy.
import { clickLogLine, profileChangelog } from '../../examples/feature-pipeline/src/click-log.mjs';
import { buildFeaturePipeline, parseClick } from '../../examples/feature-pipeline/src/pipeline.mjs';

describe('examples/feature-pipeline', () => {
  it('turns every click into exactly one window count, enriched with the user profile', async () => {
    const clicks = 5_000;
    const users = 20;
    const job = new Job({ batchSize: 128 });
    const clickLog = job.generate((i) => clickLogLine(i, users), { count: clicks, parallelism: 2 });
    const profiles = job.fromIterable(() => profileChangelog(users));
    const rows = buildFeaturePipeline({ clickLog, profiles, parallelism: 2 }).collect();
    const result = await job.execute();

    // Recompute the expected counts with a plain loop over the same generated log.
    const expected = new Map<string, number>();
    for (let i = 0; i < clicks; i++) {
      const click = parseClick(clickLogLine(i, users));
      const window = new Date(Math.floor(click.timestamp / 10_000) * 10_000).toISOString();
      const key = `${click.user}@${window}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const actual = new Map(rows.records.map((row) => [`${row.user}@${row.windowStart}`, row.events]));
    expect(actual).toEqual(expected);
    expect(
      result.metrics.find((m) => m.operator === 'window-features')?.extra.lateRecordsDropped,
    ).toBeUndefined();
    const u3 = rows.records.find((row) => row.user === 'u3')!;
    expect(u3).toMatchObject({ country: 'FR', tier: 'basic' });
    expect(rows.records.find((row) => row.user === 'u7')).toMatchObject({ tier: 'gold' });
  });

  it('names the bad line when the log holds garbage', async () => {
    const job = new Job();
    const clickLog = job.fromIterable(['2026-01-01T00:00:00Z,u1,/home,view', 'garbage']);
    const profiles = job.fromIterable<{ user: string; country: string; tier: string }>([]);
    buildFeaturePipeline({ clickLog, profiles, parallelism: 1 }).collect();
    await expect(job.execute()).rejects.toThrow(
      /Operator 'parse' \(subtask 1\/1\) failed on record "garbage": not a click log line/,
    );
  });
});
