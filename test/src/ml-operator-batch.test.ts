import type { Runner, RunnerResult } from '@millrace/core';
import { Job, type JobEvent } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { describe, expect, it } from 'vitest';

const encoder = new TextEncoder();

/** An in-process runner: writes `count` records, failing once in attempt 0 on node `failIndex`. */
function countingRunner(count: number, failIndex?: number): Runner {
  return {
    description: 'counting (in-process)',
    start(context) {
      const result = (async (): Promise<RunnerResult> => {
        if (context.index === failIndex && context.attempt === 0)
          return { status: 'failed', message: 'first attempt fails' };
        for (let i = 0; i < count; i++) {
          await context.output!.write(
            encoder.encode(JSON.stringify({ node: context.index, i, generation: context.generation })),
          );
        }
        await context.output!.end();
        return { status: 'succeeded' };
      })();
      return { result, stop: async () => {} };
    },
  };
}

describe('ML operator: source (batch-mode) roles', () => {
  it('a role without input is a source: what its runners write becomes a DataStream', async () => {
    const job = new Job();
    addAMRole(
      job,
      { name: 'batch', engine: 'generic', roles: { worker: { instances: 2 } } },
      { engine: createGenericEngine() },
    );
    const out = addRole<never, { node: number; i: number }>(job, 'worker', {
      instances: 2,
      runner: countingRunner(50),
    })
      .map((r) => r.node)
      .collect();
    await job.execute();
    expect(out.records.filter((n) => n === 0)).toHaveLength(50);
    expect(out.records.filter((n) => n === 1)).toHaveLength(50);
  });

  it('runs one application manager even when the job default parallelism is 2 (regression: the job never ended)', async () => {
    const job = new Job({ parallelism: 2 });
    addAMRole(
      job,
      { name: 'parallel-default', engine: 'generic', roles: { worker: { instances: 2 } } },
      { engine: createGenericEngine() },
    );
    const out = addRole<never, { node: number }>(job, 'worker', {
      instances: 2,
      runner: countingRunner(5),
    }).collect();
    const outcome = await Promise.race([
      job.execute(),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref()),
    ]);
    expect(outcome).not.toBe('hung');
    expect(out.records).toHaveLength(10);
  });

  it('finishes when the workers finish, stopping a serving role (parameter server) instead of waiting for it', async () => {
    const job = new Job();
    const engine = createGenericEngine({ roles: ['worker', 'ps'], servingRoles: ['ps'] });
    addAMRole(
      job,
      {
        name: 'ps-cluster',
        engine: 'generic',
        roles: { worker: { instances: 1 }, ps: { instances: 1 } },
        stopGracePeriodMs: 1_000,
      },
      { engine },
    );
    const out = addRole(job, 'worker', { instances: 1, runner: countingRunner(3) }).collect();
    addRole(job, 'ps', {
      instances: 1,
      runner: streamProcessRunner({
        command: process.execPath,
        args: ['-e', 'setInterval(() => {}, 1000)'],
        gracePeriodMs: 1_000,
      }),
    });
    const events: JobEvent[] = [];
    job.onEvent((event) => events.push(event));
    const result = await job.execute();
    expect(result.status).toBe('finished');
    expect(out.records).toHaveLength(3);
    const finished = events.find(
      (e) => e.type === 'cluster-observation' && e.observation.type === 'job-finished',
    );
    expect(finished).toMatchObject({ observation: { outcome: { status: 'succeeded' } } });
    expect(childProcessesOf()).toEqual([]);
  });

  it('a cluster restart (generation 1) reruns the runners; the dataflow job goes on', async () => {
    const job = new Job();
    addAMRole(
      job,
      {
        name: 'flaky',
        engine: 'generic',
        roles: { worker: { instances: 2 } },
        maxRestarts: 2,
        restartBackoff: { initialMs: 10, maxMs: 10 },
      },
      { engine: createGenericEngine() },
    );
    const out = addRole<never, { node: number; generation: number }>(job, 'worker', {
      instances: 2,
      runner: countingRunner(5, 0),
    }).collect();
    const observations: string[] = [];
    job.onEvent((event) => {
      if (event.type === 'cluster-observation') observations.push(event.observation.type);
    });
    await job.execute();
    expect(observations).toContain('generation-started');
    const last = out.records.filter((r) => r.generation === 1);
    expect(last.filter((r) => r.node === 0)).toHaveLength(5);
    expect(last.filter((r) => r.node === 1)).toHaveLength(5);
  });

  it('a slow runner pushes back through the role operator to the source (bounded records in flight)', async () => {
    let produced = 0;
    let consumed = 0;
    let maxInFlight = 0;
    const slowReader: Runner = {
      description: 'slow reader (in-process)',
      start(context) {
        const result = (async (): Promise<RunnerResult> => {
          try {
            for (;;) {
              const batch = await context.input!.readBatch(8);
              if (batch === null) break;
              consumed += batch.length;
              maxInFlight = Math.max(maxInFlight, produced - consumed);
              await new Promise((resolve) => setTimeout(resolve, 1));
            }
            return { status: 'succeeded' };
          } catch {
            // The input channel fails when the job is cancelled; a runner's result never rejects.
            return { status: 'stopped' };
          }
        })();
        return { result, stop: async () => {} };
      },
    };
    const job = new Job({ batchSize: 32, channelCapacity: 2 });
    addAMRole(
      job,
      { name: 'slow', engine: 'generic', roles: { worker: { instances: 1 } } },
      { engine: createGenericEngine() },
    );
    const numbers = job.generate(
      (i) => {
        produced += 1;
        return i;
      },
      { count: 1e9 },
    );
    addRole(job, 'worker', { instances: 1, input: numbers, runner: slowReader, queueCapacity: 64 });
    const done = job.execute();
    while (consumed < 2_000) await new Promise((resolve) => setTimeout(resolve, 10));
    job.cancel();
    await done;
    // Role queue (64) + the role subtask's channel (2 batches) + a batch in each operator + the source's batch.
    expect(maxInFlight).toBeLessThanOrEqual(64 + 32 * (2 + 3));
    expect(produced).toBeLessThan(1e6);
  });

  it('a dataflow restart strategy restarts a failed cluster with a fresh application manager', async () => {
    let starts = 0;
    const failsOnce: Runner = {
      description: 'fails in the first job attempt',
      start(context) {
        starts += 1;
        const first = starts === 1;
        const result = (async (): Promise<RunnerResult> => {
          if (first) return { status: 'failed', message: 'first job attempt fails' };
          await context.output!.write(encoder.encode(JSON.stringify({ ok: true })));
          return { status: 'succeeded' };
        })();
        return { result, stop: async () => {} };
      },
    };
    const job = new Job({ restart: { maxRestarts: 1, delayMs: 1 } });
    addAMRole(
      job,
      { name: 'once', engine: 'generic', roles: { worker: { instances: 1 } }, maxRestarts: 0 },
      {
        engine: createGenericEngine(),
      },
    );
    const out = addRole(job, 'worker', { instances: 1, runner: failsOnce }).collect();
    const restarts: unknown[] = [];
    job.onEvent((event) => {
      if (event.type === 'job-restarting') restarts.push(event.error);
    });
    const result = await job.execute();
    expect(result).toMatchObject({ status: 'finished', attempts: 2 });
    expect(String(restarts[0])).toMatch(/first job attempt fails/);
    expect(out.records).toEqual([{ ok: true }]);
  });

  it('a config role without addRole fails before anything waits, naming the role', async () => {
    const job = new Job();
    addAMRole(
      job,
      { engine: 'generic', roles: { worker: { instances: 1 } } },
      { engine: createGenericEngine() },
    );
    await expect(job.execute()).rejects.toThrow(
      /roles\.worker: is in the cluster config but the job has no addRole/,
    );
  });
});
