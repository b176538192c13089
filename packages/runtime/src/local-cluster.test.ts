import { randomUUID } from 'node:crypto';
import { conformanceScenarios } from '@millrace/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenericEngine } from './generic-engine.js';
import { launchLocalCluster } from './local-cluster.js';
import { processesWithMarker, scriptedRunner } from './testing/index.js';

const marker = `millrace-test-${randomUUID()}`;

describe('launchLocalCluster passes the conformance kit with process runners', () => {
  const engine = createGenericEngine({ name: 'proc-test', roles: ['worker', 'ps'], servingRoles: ['ps'] });
  const scenarios = conformanceScenarios({
    engine,
    roles: { worker: 2, ps: 1 },
    runner: (behaviour) => scriptedRunner(behaviour, marker),
    launch: launchLocalCluster,
    config: { heartbeat: { intervalMs: 200, missedLimit: 5 }, stopGracePeriodMs: 2_000 },
  });
  for (const scenario of scenarios) it(scenario.name, scenario.run, scenario.timeoutMs);

  afterAll(() => {
    expect(processesWithMarker(marker)).toEqual([]);
  });
});
