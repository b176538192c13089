/**
 * The XGBoost engine against the Millrace runtime, in this repository: the conformance kit, and a
 * real distributed training (tracker + 2 workers) whose predictions must equal single-process
 * training on the same data, including after a worker fails and the whole cluster restarts.
 * (test/packed.test.mjs does the same through packed tarballs and the CLI, outside the repository.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conformanceScenarios } from '@millrace/core/testing';
import { launchLocalCluster } from '@millrace/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { createXgboostEngine, xgboost, xgboostTracker, xgboostWorker } from '../src/index.js';

const example = join(import.meta.dirname, '..', 'example');
const python = '/usr/bin/python3';
const hasXgboost = spawnSync(python, ['-c', 'import xgboost'], { stdio: 'ignore' }).status === 0;
const scratch = mkdtempSync(join(tmpdir(), 'millrace-xgboost-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Single-process and distributed predictions must agree within this (they are equal in practice). */
export const predictionTolerance = 1e-6;

function predictions(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

describe.skipIf(!hasXgboost)('millrace-engine-xgboost', () => {
  describe('conformance kit', () => {
    const scenarios = conformanceScenarios({
      engine: xgboost,
      roles: { tracker: 1, worker: 2 },
      launch: launchLocalCluster,
      timeoutMs: 60_000,
      runner: (behaviour, node) =>
        node.role === 'tracker' && behaviour === 'run-until-stopped'
          ? xgboostTracker()
          : xgboostWorker({ script: join(example, 'behaviour.py'), args: [behaviour] }),
    });
    for (const scenario of scenarios) it(scenario.name, scenario.run, scenario.timeoutMs);
  });

  it('rejects a second tracker, naming the field', async () => {
    const cluster = launchLocalCluster({
      engine: xgboost,
      config: { engine: 'xgboost', roles: { tracker: { instances: 2 }, worker: { instances: 1 } } },
      runnerFor: () => xgboostTracker(),
    });
    await expect(cluster.result).rejects.toThrow(/roles\.tracker\.instances: must be 1, got 2/);
  });

  it('trains across 2 workers as one process would, restarting everyone (tracker too) after a worker fails', async () => {
    const single = join(scratch, 'single.json');
    const run = spawnSync(python, [join(example, 'train.py'), '--out', single], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);

    const distributed = join(scratch, 'distributed.json');
    const trackerStarts = [];
    const engine = createXgboostEngine();
    const cluster = launchLocalCluster({
      engine,
      config: {
        engine: 'xgboost',
        roles: { tracker: { instances: 1 }, worker: { instances: 2 } },
        maxRestarts: 2,
        restartBackoff: { initialMs: 10, maxMs: 100 },
      },
      runnerFor: (node) =>
        node.role === 'tracker'
          ? xgboostTracker()
          : xgboostWorker({
              script: join(example, 'train.py'),
              args: ['--distributed', '--fail-attempt-zero', '--out', distributed],
            }),
      onNodeEvent: (node, event) => {
        if (node.role === 'tracker' && event.type === 'runner-started') trackerStarts.push(event);
      },
    });
    const outcome = await cluster.result;
    expect(outcome.status).toBe('succeeded');
    const restarts = cluster.observations.filter((o) => o.type === 'generation-started');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({ policy: 'restart-all' });
    expect([...restarts[0].restarting].sort()).toEqual(['tracker:0', 'worker:0', 'worker:1']);
    expect(trackerStarts).toHaveLength(2); // the tracker was restarted with the workers

    const expected = predictions(single);
    const actual = predictions(distributed);
    expect(actual.world).toBe(2);
    expect(actual.predictions).toHaveLength(expected.predictions.length);
    const largest = Math.max(
      ...actual.predictions.map((value, i) => Math.abs(value - expected.predictions[i])),
    );
    expect(largest).toBeLessThanOrEqual(predictionTolerance);
  });
});
