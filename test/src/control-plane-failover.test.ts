/**
 * The control plane end to end with real processes: a runner killed with SIGKILL is seen as a
 * node failure and the cluster fails over into a new generation; a runner that cannot start is a
 * node failure with the reason; a stopped job leaves no process behind.
 */
import { randomUUID } from 'node:crypto';
import type { ClusterObservation, NodeFailure } from '@millrace/core';
import { createGenericEngine, launchLocalCluster, processRunner } from '@millrace/runtime';
import { nodeScriptRunner, processesWithMarker } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';

const marker = `millrace-failover-test-${randomUUID()}`;
const engine = createGenericEngine();

afterEach(() => {
  expect(processesWithMarker(marker)).toEqual([]);
});

const failureOf = (observation: ClusterObservation): NodeFailure | undefined =>
  observation.type === 'node-failed' ? observation.failure : undefined;

describe('control plane: failures of real runner processes', () => {
  it('kill -9 of a runner is a node failure naming SIGKILL, and the cluster fails over', async () => {
    // Attempt 0 publishes its pid as a metric and waits to be killed; attempt 1 succeeds.
    const script = `
      if (process.env.MILLRACE_ATTEMPT !== '0') process.exit(0);
      console.log('millrace:metrics ' + JSON.stringify({ pid: process.pid }));
      setInterval(() => {}, 1000);`;
    const cluster = launchLocalCluster({
      engine,
      config: {
        engine: 'generic',
        roles: { worker: { instances: 2 } },
        restartBackoff: { initialMs: 10, maxMs: 10 },
      },
      runnerFor: () => nodeScriptRunner(script, marker),
    });
    const reported = await cluster.waitFor((o) => o.type === 'node-metrics' && o.index === 1, 20_000);
    const pid = reported.type === 'node-metrics' ? reported.metrics.pid : undefined;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');

    const failed = await cluster.waitFor((o) => failureOf(o)?.index === 1, 10_000);
    expect(failureOf(failed)).toMatchObject({
      role: 'worker',
      index: 1,
      signal: 'SIGKILL',
      reason: 'exited',
      generation: 0,
    });
    const outcome = await cluster.result;
    expect(outcome).toMatchObject({ status: 'succeeded', restarts: 1, generation: 1 });
    const ready = cluster.observations.filter((o) => o.type === 'cluster-ready');
    expect(ready.map((o) => (o.type === 'cluster-ready' ? o.spec.generation : -1))).toEqual([0, 1]);
  });

  it('a runner whose executable is missing is a node failure with the reason, not a hang', async () => {
    const cluster = launchLocalCluster({
      engine,
      config: {
        engine: 'generic',
        roles: { worker: { instances: 2 } },
        maxRestarts: 1,
        restartBackoff: { initialMs: 10, maxMs: 10 },
      },
      runnerFor: ({ index }) =>
        index === 0
          ? processRunner({ command: `/nonexistent/${marker}/train`, output: 'ignore' })
          : nodeScriptRunner('setInterval(() => {}, 1000)', marker),
    });
    const outcome = await cluster.result;
    expect(outcome.status).toBe('failed');
    expect(outcome.failures[0]).toMatchObject({ role: 'worker', index: 0, reason: 'start-failed' });
    expect(outcome.failures[0]?.message).toMatch(/executable not found/);
    expect(outcome.error?.message).toMatch(/worker\[0\]/);
    expect(outcome.error?.message).toMatch(/executable not found/);
    // A restart cannot bring a missing executable back: the job fails at once (issue 12, finding 4).
    expect(outcome.restarts).toBe(0);
  });

  it('a failed job names each failed node with its exit code and stderr tail', async () => {
    const script = `console.error('loss is NaN at step ' + process.env.MILLRACE_ATTEMPT); process.exit(42)`;
    const cluster = launchLocalCluster({
      engine,
      config: {
        engine: 'generic',
        roles: { worker: { instances: 1 } },
        maxRestarts: 1,
        restartBackoff: { initialMs: 10, maxMs: 10 },
      },
      runnerFor: () => nodeScriptRunner(script, marker),
    });
    const outcome = await cluster.result;
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.name).toBe('JobFailedError');
    expect(outcome.error?.message).toMatch(/worker\[0\] \(generation 0\) exit code 42/);
    expect(outcome.error?.message).toMatch(/worker\[0\] \(generation 1\) exit code 42/);
    expect(outcome.error?.message).toMatch(/loss is NaN at step 1/);
  });

  it('stopping a running job ends every runner process', async () => {
    const cluster = launchLocalCluster({
      engine: createGenericEngine({ roles: ['worker', 'ps'], servingRoles: ['ps'] }),
      config: { engine: 'generic', roles: { worker: { instances: 2 }, ps: { instances: 1 } } },
      runnerFor: () =>
        nodeScriptRunner('console.log(\'millrace:metrics {"up":1}\'); setInterval(() => {}, 1000)', marker),
    });
    await cluster.waitFor((o) => o.type === 'cluster-ready', 20_000);
    await cluster.waitFor((o) => o.type === 'node-metrics', 20_000);
    expect(processesWithMarker(marker).length).toBe(3);
    await cluster.stop('test is done');
    expect((await cluster.result).status).toBe('stopped');
  });
});
