/**
 * A pipeline that computes without pause does not make the control plane declare nodes dead
 * (issue 12, finding 7): in an embedded job the AM and the node agents share the job process's
 * event loop with the pipeline, so a stage that holds that loop for 10 s also holds every
 * heartbeat. The AM's heartbeat monitor credits its own stall to every node instead of counting
 * it as their silence; the cluster must go on as if nothing happened: no node failed, no restart,
 * every number summed once.
 */
import { fileURLToPath } from 'node:url';
import type { ClusterObservation } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { describe, expect, it } from 'vitest';

const summingRunner = fileURLToPath(
  new URL('../../examples/stream-to-cluster/src/summing-runner.mjs', import.meta.url),
);

describe('control plane under a busy pipeline', () => {
  it('a stage that computes for 10 s without pause causes no failure detection', async () => {
    const count = 200_000;
    const job = new Job({ name: 'busy-pipeline', batchSize: 256 });
    addAMRole(
      job,
      // No restarts allowed: a false failure detection fails the job outright.
      { name: 'busy', engine: 'generic', roles: { summer: { instances: 2 } }, maxRestarts: 0 },
      { engine: createGenericEngine({ roles: ['summer'] }) },
    );
    const observations: ClusterObservation[] = [];
    let runnersStarted = 0;
    job.onEvent((event) => {
      if (event.type !== 'cluster-observation') return;
      observations.push(event.observation);
      if (event.observation.type === 'node-started') runnersStarted += 1;
    });
    let blockedMs = 0;
    let blockedAt = 0;
    const numbers = job
      .generate((i) => i + 1, { count, name: 'numbers' })
      .map(
        (n) => {
          // Once both runners run and their agents heartbeat, hold the event loop for 10 s, once.
          if (runnersStarted >= 2 && blockedAt === 0) {
            blockedAt = n;
            const started = Date.now();
            while (Date.now() - started < 10_000) {
              // computing, without a single await
            }
            blockedMs = Date.now() - started;
          }
          return n;
        },
        { name: 'busy-stage', parallelism: 1 },
      );
    const results = addRole<number, { node: string; sum: number; count: number }>(job, 'summer', {
      instances: 2,
      input: numbers,
      runner: streamProcessRunner({ command: process.execPath, args: [summingRunner], output: 'ignore' }),
      replay: true,
    }).collect();
    const outcome = await job.execute(); // a failed job rejects, naming its failure
    expect(blockedMs).toBeGreaterThanOrEqual(10_000);
    expect(blockedAt).toBeLessThan(count); // the block fell while records still flowed
    expect(outcome.status).toBe('finished');
    expect(outcome.attempts).toBe(1);
    const failures = observations.filter(
      (observation) => observation.type === 'node-failed' || observation.type === 'generation-started',
    );
    expect(failures).toEqual([]);
    const parts = [...new Map(results.records.map((part) => [part.node, part])).values()];
    expect(parts.reduce((sum, part) => sum + part.count, 0)).toBe(count);
    expect(parts.reduce((sum, part) => sum + part.sum, 0)).toBe((count * (count + 1)) / 2);
    expect(childProcessesOf()).toEqual([]);
  }, 120_000);
});
