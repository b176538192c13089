/**
 * The engine written in docs/writing-an-engine.md, verbatim in substance: an adapter built on
 * @millrace/core alone must pass the conformance kit with real processes. If this fails, the
 * guide is lying to third-party authors.
 */
import { defineMLFramework, type MLFramework, nodeAddress, rolesFinished } from '@millrace/core';
import { conformanceScenarios, type ScriptedBehaviour } from '@millrace/core/testing';
import { launchLocalCluster, processRunner } from '@millrace/runtime';
import { describe, expect, it } from 'vitest';

function createHorovodEngine(settings: { restartPolicy?: 'restart-all' | 'fail' } = {}): MLFramework {
  return defineMLFramework({
    specificationVersion: 'v1',
    name: 'horovod',
    roles: [
      {
        name: 'worker',
        description: 'one rank',
        lifecycle: 'finishes',
        required: true,
        ports: ['rendezvous'],
      },
    ],
    isJobFinished: (view) => rolesFinished(view, ['worker']),
    failurePolicy: () => settings.restartPolicy ?? 'restart-all',
    nodeEnvironment: ({ index, clusterSpec }) => ({
      HOROVOD_RANK: String(index),
      HOROVOD_SIZE: String(clusterSpec.roles.worker?.length ?? 0),
      HOROVOD_CONTROLLER: nodeAddress(clusterSpec, 'worker', 0, 'rendezvous') ?? '',
    }),
  });
}

const horovod = createHorovodEngine();

const scripts: Record<ScriptedBehaviour, string> = {
  succeed: 'process.exit(0)',
  fail: 'process.exit(3)',
  'fail-first-attempt': 'process.exit(process.env.MILLRACE_ATTEMPT === "0" ? 3 : 0)',
  'run-until-stopped': 'setInterval(() => {}, 1000)',
};

describe('the engine from docs/writing-an-engine.md', () => {
  const scenarios = conformanceScenarios({
    engine: horovod,
    roles: { worker: 2 },
    launch: launchLocalCluster,
    runner: (behaviour) =>
      processRunner({ command: process.execPath, args: ['-e', scripts[behaviour]], output: 'ignore' }),
  });
  for (const scenario of scenarios) it(scenario.name, scenario.run, scenario.timeoutMs);

  it('gives every rank the controller address published by worker 0', async () => {
    const cluster = launchLocalCluster({
      engine: horovod,
      config: { engine: 'horovod', roles: { worker: { instances: 2 } } },
      runnerFor: () =>
        processRunner({
          command: process.execPath,
          args: ['-e', 'if (!/^127\\.0\\.0\\.1:\\d+$/.test(process.env.HOROVOD_CONTROLLER)) process.exit(9)'],
          output: 'ignore',
        }),
    });
    const outcome = await cluster.result;
    expect(outcome.status, outcome.reason).toBe('succeeded');
  });
});
