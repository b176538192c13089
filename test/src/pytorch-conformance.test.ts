import { conformanceScenarios } from '@millrace/core/testing';
import { pytorch, torchRunner } from '@millrace/plugin-pytorch';
import { launchLocalCluster } from '@millrace/runtime';
import { describe, it } from 'vitest';
import { fixture, hasTorch, torchPython } from './pytorch-support.js';

describe.skipIf(!hasTorch)('the pytorch engine passes the conformance kit', () => {
  const scenarios = conformanceScenarios({
    engine: pytorch,
    roles: { worker: 2 },
    runner: (behaviour) =>
      torchRunner({
        script: fixture('conformance_node.py'),
        python: torchPython,
        env: { BEHAVIOUR: behaviour },
        gracePeriodMs: 2_000,
        output: 'ignore',
      }),
    launch: launchLocalCluster,
    timeoutMs: 30_000,
    config: { heartbeat: { intervalMs: 200, missedLimit: 10 }, stopGracePeriodMs: 3_000 },
  });
  for (const scenario of scenarios) it(scenario.name, scenario.run, scenario.timeoutMs);
});
