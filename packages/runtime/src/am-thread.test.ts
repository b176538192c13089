/**
 * The AM on a thread of its own (am-thread.ts): what crosses threads arrives as it would from an
 * AM on the caller's thread — the engine's decisions, a failed outcome's JobFailedError, a start
 * failure's ConfigError and its words. Runs the built worker (dist/am-thread-worker.js).
 */

import { threadId } from 'node:worker_threads';
import { ConfigError, defineMLFramework, JobFailedError, type NodeFailure } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { startApplicationManagerThread } from './am-thread.js';
import { NodeAgent } from './node-agent.js';

/** An engine whose hooks record the thread they ran on and fail the job at the first failure. */
function recordingEngine(calls: string[]) {
  return defineMLFramework({
    specificationVersion: 'v1',
    name: 'threads',
    roles: [{ name: 'worker', description: 'worker', lifecycle: 'finishes' }],
    isJobFinished: () => false,
    failurePolicy: (failure: NodeFailure) => {
      calls.push(`failurePolicy ${failure.role}[${failure.index}] on thread ${threadId}`);
      return 'fail';
    },
    nodeEnvironment: () => ({}),
  });
}

describe('the application manager on its own thread', () => {
  it('asks the engine on the caller thread and ends a failed job with a JobFailedError', async () => {
    const calls: string[] = [];
    const engine = recordingEngine(calls);
    const am = await startApplicationManagerThread({
      config: { name: 'threads', engine: 'threads', roles: { worker: { instances: 1 } } },
      engine,
    });
    try {
      const agent = new NodeAgent({
        address: am.address,
        token: am.token,
        fingerprint: am.fingerprint,
        role: 'worker',
        index: 0,
        engine: am.engine,
        runner: {
          description: 'fails at once',
          start: () => ({
            result: Promise.resolve({ status: 'failed' as const, exitCode: 3, message: 'exit 3' }),
            stop: async () => {},
          }),
        },
      });
      const [outcome] = await Promise.all([am.result, agent.run()]);
      expect(outcome.status).toBe('failed');
      expect(outcome.error).toBeInstanceOf(JobFailedError);
      expect(outcome.error?.message).toMatch(/^Job 'threads' failed: .*worker\[0\]/s);
      expect(calls).toEqual([`failurePolicy worker[0] on thread ${threadId}`]);
      const finished = am.observations.find((observation) => observation.type === 'job-finished');
      expect(finished?.type === 'job-finished' && finished.outcome.error).toBeInstanceOf(JobFailedError);
    } finally {
      await am.close();
    }
  });

  it('rejects a start it cannot serve with the ConfigError the AM raised', async () => {
    const start = startApplicationManagerThread({
      config: { engine: 'threads', host: '192.0.2.1', roles: { worker: { instances: 1 } } },
      engine: recordingEngine([]),
      insecure: true,
    });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow(/cannot listen on 192\.0\.2\.1/);
  });
});
