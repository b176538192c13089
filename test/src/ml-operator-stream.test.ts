import { fileURLToPath } from 'node:url';
import { JobFailedError } from '@millrace/core';
import { type DataStream, Job, type JobEvent } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { describe, expect, it } from 'vitest';

const runnerPath = fileURLToPath(new URL('./fixtures/summing-runner.mjs', import.meta.url));

interface Emitted {
  node: string;
  total?: number;
  partial?: number;
  count: number;
}

/** Child processes of this test process (the runners), found through /proc. */

function summingCluster(
  job: Job,
  options: { input?: DataStream<number>; failAt?: number; maxRestarts?: number } = {},
) {
  const engine = createGenericEngine({ roles: ['worker'] });
  addAMRole(
    job,
    {
      name: 'summing',
      engine: 'generic',
      roles: { worker: { instances: 2 } },
      maxRestarts: options.maxRestarts ?? 0,
      heartbeat: { intervalMs: 200, missedLimit: 5 },
    },
    { engine },
  );
  return addRole<number, Emitted>(job, 'worker', {
    instances: 2,
    input: options.input,
    runner: streamProcessRunner({
      command: process.execPath,
      args: [runnerPath],
      output: 'ignore',
      env: options.failAt ? { FAIL_AT_RECORD: String(options.failAt) } : {},
      gracePeriodMs: 1_000,
    }),
  });
}

describe('ML operator: stream-mode role', () => {
  it('hands every record to the runners and emits what they write downstream; totals add up', async () => {
    const job = new Job({ name: 'stream-to-cluster', batchSize: 64 });
    const numbers = job.generate((i) => i + 1, { count: 1_000 });
    const results = summingCluster(job, { input: numbers }).collect();
    const events: JobEvent[] = [];
    job.onEvent((event) => events.push(event));
    const result = await job.execute();
    expect(result.status).toBe('finished');
    const totals = results.records.filter((r) => r.total !== undefined);
    expect(totals.map((r) => r.node).sort()).toEqual(['worker[0]', 'worker[1]']);
    expect(totals.reduce((sum, r) => sum + r.total!, 0)).toBe((1_000 * 1_001) / 2);
    expect(totals.reduce((sum, r) => sum + r.count, 0)).toBe(1_000);
    // Partial results streamed out while running, before the totals.
    expect(results.records.some((r) => r.partial !== undefined)).toBe(true);
    const observations = events.flatMap((e) =>
      e.type === 'cluster-observation' ? [e.observation.type] : [],
    );
    expect(observations).toContain('cluster-ready');
    expect(observations).toContain('job-finished');
    expect(childProcessesOf()).toEqual([]);
  });

  it('fails the job with the cluster error naming the failed node and its stderr', async () => {
    const job = new Job({ batchSize: 16 });
    const numbers = job.generate((i) => i, { count: 400 });
    summingCluster(job, { input: numbers, failAt: 50 }).collect();
    const error = await job.execute().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as Error).message).toMatch(/worker\[\d\].*exit code 3/s);
    expect((error as Error).message).toContain('refusing record 50 on purpose');
    expect(childProcessesOf()).toEqual([]);
  });

  it('cancelling an unbounded stream stops the AM, the agents and every runner process', async () => {
    const job = new Job({ batchSize: 16 });
    const numbers = job.generate((i) => i, { ratePerSecond: 2_000 });
    const seen: Emitted[] = [];
    summingCluster(job, { input: numbers }).forEach((record) => {
      seen.push(record);
    });
    const done = job.execute();
    while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(childProcessesOf().length).toBe(2);
    job.cancel();
    await expect(done).resolves.toMatchObject({ status: 'cancelled' });
    expect(childProcessesOf()).toEqual([]);
  });

  it('rejects a role that does not match the cluster config, naming the field', () => {
    const job = new Job();
    addAMRole(
      job,
      { engine: 'generic', roles: { worker: { instances: 2 } } },
      { engine: createGenericEngine() },
    );
    expect(() =>
      addRole(job, 'worker', { instances: 3, runner: streamProcessRunner({ command: process.execPath }) }),
    ).toThrow(/instances: is 3 but the cluster config gives 'worker' 2/);
    expect(() => addRole(job, 'ps', { instances: 1, runner: streamProcessRunner({ command: 'x' }) })).toThrow(
      /'ps' is not a role of cluster/,
    );
  });
});
