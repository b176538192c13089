import type { InputChannel, Runner, RunnerContext, RunnerResult } from '@millrace/core';
import { defineMLFramework, rolesFinished } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { ApplicationManager } from './application-manager.js';
import { createGenericEngine } from './generic-engine.js';
import { launchLocalCluster } from './local-cluster.js';
import { silentLogger } from './logger.js';
import { NodeAgent } from './node-agent.js';

/** A runner in this process that records every context it was started with. */
function recordingRunner(
  contexts: RunnerContext[],
  behave: (context: RunnerContext) => Promise<RunnerResult>,
): Runner {
  return {
    description: 'recording runner',
    start(context) {
      contexts.push(context);
      return { result: behave(context), stop: async () => {} };
    },
  };
}

const untilAborted = (context: RunnerContext) =>
  new Promise<RunnerResult>((resolve) =>
    context.signal.addEventListener('abort', () => resolve({ status: 'stopped' })),
  );

describe('NodeAgent', () => {
  it('gives the runner its engine environment, attempt, generation, checkpoint dir and the same channels after a restart', async () => {
    const engine = defineMLFramework({
      specificationVersion: 'v1',
      name: 'env-test',
      roles: [{ name: 'worker', description: 'worker', lifecycle: 'finishes', ports: ['rendezvous'] }],
      isJobFinished: (view) => rolesFinished(view, ['worker']),
      failurePolicy: () => 'restart-all',
      nodeEnvironment: ({ role, index, clusterSpec, attempt }) => ({
        RANK: String(index),
        WORLD_SIZE: String(clusterSpec.roles[role]?.length),
        MASTER_PORT: String(clusterSpec.roles.worker?.[0]?.ports.rendezvous),
        SEEN_ATTEMPT: String(attempt),
      }),
    });
    const input: InputChannel = {
      readBatch: async () => null,
      async *[Symbol.asyncIterator]() {},
    };
    const contexts: RunnerContext[] = [];
    const cluster = launchLocalCluster({
      engine,
      config: {
        engine: 'env-test',
        roles: { worker: { instances: 2 } },
        restartBackoff: { initialMs: 0, maxMs: 0 },
      },
      channelsFor: ({ index }) => (index === 0 ? { input } : {}),
      runnerFor: () =>
        recordingRunner(contexts, async (context) => {
          context.metrics.report({ step: context.attempt + 1 });
          if (context.index === 0 && context.attempt === 0) {
            return { status: 'failed', message: 'first attempt fails', exitCode: 7, stderrTail: 'trace' };
          }
          await new Promise((resolve) => setTimeout(resolve, 150)); // let the metrics reach the AM
          return { status: 'succeeded' };
        }),
    });
    const outcome = await cluster.result;
    expect(outcome).toMatchObject({ status: 'succeeded', restarts: 1, generation: 1 });
    expect(outcome.failures[0]).toMatchObject({ role: 'worker', index: 0, exitCode: 7, stderrTail: 'trace' });

    const worker0 = contexts.filter((context) => context.index === 0);
    expect(worker0.map((context) => [context.attempt, context.generation])).toEqual([
      [0, 0],
      [1, 1],
    ]);
    // The caller's channel, seen through the stall watch: the same one in every attempt.
    expect(worker0[0]!.input).toBeDefined();
    expect(worker0[1]!.input).toBe(worker0[0]!.input);
    expect(worker0[1]!.checkpointDirectory).toBe(worker0[0]!.checkpointDirectory);
    const last = contexts.at(-1)!;
    expect(last.environment).toMatchObject({ WORLD_SIZE: '2', SEEN_ATTEMPT: String(last.attempt) });
    const port = last.clusterSpec.roles.worker?.[0]?.ports.rendezvous;
    expect(port).toBeGreaterThan(0);
    expect(last.environment.MASTER_PORT).toBe(String(port));
    expect(
      cluster.observations.some(
        (o) => o.type === 'node-metrics' && o.role === 'worker' && o.metrics.step === 2,
      ),
    ).toBe(true);
  });

  it('restart-one restarts the failed node alone while the others keep running', async () => {
    const engine = defineMLFramework({
      specificationVersion: 'v1',
      name: 'async-ps',
      roles: [{ name: 'worker', description: 'async worker', lifecycle: 'finishes' }],
      isJobFinished: (view) => rolesFinished(view, ['worker']),
      failurePolicy: () => 'restart-one',
      nodeEnvironment: () => ({}),
    });
    const contexts: RunnerContext[] = [];
    let releaseWorker0!: () => void;
    const worker0Released = new Promise<void>((resolve) => {
      releaseWorker0 = resolve;
    });
    const cluster = launchLocalCluster({
      engine,
      config: {
        engine: 'async-ps',
        roles: { worker: { instances: 2 } },
        restartBackoff: { initialMs: 0, maxMs: 0 },
      },
      runnerFor: () =>
        recordingRunner(contexts, async (context) => {
          if (context.index === 1 && context.attempt === 0)
            return { status: 'failed', message: 'worker 1 crashed' };
          if (context.index === 1) {
            releaseWorker0();
            return { status: 'succeeded' };
          }
          await Promise.race([worker0Released, untilAborted(context)]);
          return context.signal.aborted ? { status: 'stopped' } : { status: 'succeeded' };
        }),
    });
    const outcome = await cluster.result;
    expect(outcome).toMatchObject({ status: 'succeeded', restarts: 1 });
    expect(contexts.filter((context) => context.index === 0)).toHaveLength(1);
    expect(contexts.filter((context) => context.index === 1).map((context) => context.attempt)).toEqual([
      0, 1,
    ]);
    const restart = cluster.observations.find((o) => o.type === 'generation-started');
    expect(restart).toMatchObject({ policy: 'restart-one', restarting: ['worker:1'] });
  });

  it('leaves at once when the job already ended before it registered', async () => {
    const engine = createGenericEngine();
    const am = await ApplicationManager.start({
      config: { engine: 'generic', roles: { worker: { instances: 1 } } },
      engine,
    });
    await am.stop('ended early');
    const agent = new NodeAgent({
      address: am.address,
      token: am.token,
      role: 'worker',
      index: 0,
      engine,
      logger: silentLogger,
      runner: recordingRunner([], async () => ({ status: 'succeeded' })),
    });
    await expect(agent.run()).resolves.toMatchObject({ reason: 'the job already ended', starts: 0 });
    await am.close();
  });

  it('does not declare a node dead while an in-process runner blocks the event loop', async () => {
    const cluster = launchLocalCluster({
      engine: createGenericEngine(),
      config: {
        engine: 'generic',
        roles: { worker: { instances: 1 } },
        heartbeat: { intervalMs: 50, missedLimit: 3 },
      },
      runnerFor: () =>
        recordingRunner([], async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          const until = Date.now() + 600; // twelve heartbeat intervals of nothing else running
          while (Date.now() < until) {}
          await new Promise((resolve) => setTimeout(resolve, 100));
          return { status: 'succeeded' };
        }),
    });
    const outcome = await cluster.result;
    expect(outcome).toMatchObject({ status: 'succeeded', failures: [] });
  });

  it('does not hang on a runner whose stop never returns', async () => {
    const hanging: Runner = {
      description: 'never stops',
      start: () => ({ result: new Promise<RunnerResult>(() => {}), stop: () => new Promise<void>(() => {}) }),
    };
    const cluster = launchLocalCluster({
      engine: createGenericEngine(),
      config: { engine: 'generic', roles: { worker: { instances: 1 } }, stopGracePeriodMs: 100 },
      runnerFor: () => hanging,
    });
    await cluster.waitFor((o) => o.type === 'node-started', 10_000);
    await cluster.stop('test stop');
    expect((await cluster.result).status).toBe('stopped');
  });

  it('reports why a runner could not start', async () => {
    const cluster = launchLocalCluster({
      engine: createGenericEngine(),
      config: { engine: 'generic', roles: { worker: { instances: 1 } }, maxRestarts: 0 },
      runnerFor: () => ({
        description: 'broken runner',
        start: () => {
          throw new Error('the model file is missing');
        },
      }),
    });
    const outcome = await cluster.result;
    expect(outcome.failures[0]).toMatchObject({ reason: 'start-failed' });
    expect(outcome.failures[0]?.message).toMatch(
      /could not start runner 'broken runner': the model file is missing/,
    );
  });
});
