import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterObservation } from '@millrace/core';
import {
  createTensorflowEngine,
  latestCheckpoint,
  tensorflow,
  tensorflowTrainer,
} from '@millrace/plugin-tensorflow';
import { launchLocalCluster } from '@millrace/runtime';
import { afterEach, describe, expect, it } from 'vitest';

const modelModule = join(import.meta.dirname, 'fixtures', 'tensorflow-clicks-model.mjs');
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function checkpointDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'millrace-tf-it-'));
  directories.push(directory);
  return directory;
}

const trainer = (batchesPerWorker: number) =>
  tensorflowTrainer({
    module: modelModule,
    batchSize: 64,
    learningRate: 0.02,
    checkpointEverySteps: 10,
    moduleOptions: { batchesPerWorker },
  });

function pidOf(observations: readonly ClusterObservation[], role: string, index: number): number | undefined {
  for (const observation of observations) {
    if (observation.type === 'node-metrics' && observation.role === role && observation.index === index) {
      if (observation.metrics.pid) return observation.metrics.pid;
    }
  }
  return undefined;
}

describe('TF.js parameter-server training under launchLocalCluster', () => {
  it('async: kill -9 of a worker restarts only that worker and the job succeeds', async () => {
    const directory = checkpointDirectory();
    const cluster = launchLocalCluster({
      engine: tensorflow,
      config: {
        engine: 'tensorflow',
        roles: { worker: { instances: 2 }, ps: { instances: 1 } },
        checkpointDirectory: directory,
        restartBackoff: { initialMs: 10, maxMs: 100 },
      },
      runnerFor: () => trainer(1000),
    });
    const progress = await cluster.waitFor(
      (o) => o.type === 'node-metrics' && o.role === 'worker' && o.index === 1 && (o.metrics.step ?? 0) > 10,
      30_000,
    );
    expect(progress.type).toBe('node-metrics');
    process.kill(pidOf(cluster.observations, 'worker', 1)!, 'SIGKILL');
    const outcome = await cluster.result;
    expect(outcome.status).toBe('succeeded');
    const restarts = cluster.observations.filter((o) => o.type === 'generation-started');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({ policy: 'restart-one', restarting: ['worker:1'] });
    expect(outcome.failures.map((failure) => [failure.role, failure.index, failure.signal])).toEqual([
      ['worker', 1, 'SIGKILL'],
    ]);
    expect((await latestCheckpoint(directory))?.step).toBeGreaterThan(1000);
  }, 60_000);

  it('kill -9 of the ps restarts the cluster, and the ps resumes from the last checkpoint', async () => {
    const directory = checkpointDirectory();
    const cluster = launchLocalCluster({
      engine: createTensorflowEngine({ training: 'sync', name: 'tensorflow-sync' }),
      config: {
        engine: 'tensorflow-sync',
        roles: { worker: { instances: 2 }, ps: { instances: 1 } },
        checkpointDirectory: directory,
        restartBackoff: { initialMs: 10, maxMs: 100 },
      },
      runnerFor: () => trainer(150),
    });
    await cluster.waitFor(
      (o) => o.type === 'node-metrics' && o.role === 'worker' && o.index === 0 && (o.metrics.step ?? 0) > 25,
      30_000,
    );
    const checkpoint = await latestCheckpoint(directory);
    expect(checkpoint?.step).toBeGreaterThan(0);
    process.kill(pidOf(cluster.observations, 'ps', 0)!, 'SIGKILL');
    const outcome = await cluster.result;
    expect(outcome.status).toBe('succeeded');
    const restart = cluster.observations.find((o) => o.type === 'generation-started');
    expect(restart).toMatchObject({ policy: 'restart-all' });
    const restored = cluster.observations.filter(
      (o) => o.type === 'node-metrics' && o.role === 'ps' && o.metrics.restored_step !== undefined,
    );
    expect(restored).toHaveLength(2);
    const second = restored[1]!;
    expect(second.type === 'node-metrics' && second.metrics.restored_step).toBeGreaterThanOrEqual(
      checkpoint!.step,
    );
  }, 60_000);
});
