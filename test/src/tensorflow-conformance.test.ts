import { randomUUID } from 'node:crypto';
import type { Runner } from '@millrace/core';
import { conformanceScenarios, type ScriptedBehaviour } from '@millrace/core/testing';
import { createTensorflowEngine, tensorflow } from '@millrace/plugin-tensorflow';
import { launchLocalCluster, processRunner } from '@millrace/runtime';
import { describe, it } from 'vitest';

// Scripted runners as real child processes: the conformance kit decides what each node does.
const scripts: Record<ScriptedBehaviour, string> = {
  succeed: 'process.exit(0)',
  fail: "process.stderr.write('scripted failure\\n'); process.exit(3)",
  'fail-first-attempt': "if (process.env.MILLRACE_ATTEMPT === '0') process.exit(3); process.exit(0)",
  'run-until-stopped': "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0))",
};
const marker = `millrace-tf-conformance-${randomUUID()}`;
const scripted = (behaviour: ScriptedBehaviour): Runner =>
  processRunner({
    command: process.execPath,
    args: ['-e', scripts[behaviour], marker],
    output: 'ignore',
    gracePeriodMs: 2_000,
  });

const config = { heartbeat: { intervalMs: 200, missedLimit: 5 }, stopGracePeriodMs: 2_000 };

describe('tensorflow engine conformance (batch, async): worker + ps', () => {
  for (const scenario of conformanceScenarios({
    engine: tensorflow,
    roles: { worker: 2, ps: 1 },
    runner: scripted,
    launch: launchLocalCluster,
    config,
  })) {
    it(scenario.name, scenario.run, scenario.timeoutMs);
  }
});

describe('tensorflow engine conformance (stream, sync): chief + worker + ps + evaluator', () => {
  const engine = createTensorflowEngine({ mode: 'stream', training: 'sync', name: 'tensorflow-stream-sync' });
  for (const scenario of conformanceScenarios({
    engine,
    roles: { chief: 1, worker: 1, ps: 1, evaluator: 1 },
    runner: scripted,
    launch: launchLocalCluster,
    config,
  })) {
    it(scenario.name, scenario.run, scenario.timeoutMs);
  }
});
