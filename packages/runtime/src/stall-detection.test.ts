import type { ClusterObservation, InputChannel, RunnerResult } from '@millrace/core';
import { stallTimeoutFor } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { createGenericEngine } from './generic-engine.js';
import { launchLocalCluster } from './local-cluster.js';
import { silentLogger } from './logger.js';
import { nodeScriptRunner, processesWithMarker } from './testing/index.js';

const stallTimeoutMs = 1_000;
/** How late past the timeout a stall may be declared: the watch checks every timeout/4, then the report travels over gRPC (loaded CI). */
const slackMs = 2_500;

describe('stall detection', () => {
  it('declares a SIGSTOPped runner stalled within stallTimeoutMs + slack, restarts it and the job completes', async () => {
    const marker = `stall-sigstop-${process.pid}-${Date.now()}`;
    // Attempt 0 reports one metric, then stops itself (alive, heartbeating agent, no progress).
    const script = `
      if (process.env.MILLRACE_ATTEMPT === '0') {
        process.stdout.write('millrace:metrics {"step":1}\\n', () => process.kill(process.pid, 'SIGSTOP'));
      } else process.exit(0);`;
    const seen: { at: number; observation: ClusterObservation }[] = [];
    const cluster = launchLocalCluster({
      engine: createGenericEngine({ roles: ['worker'] }),
      config: {
        engine: 'generic',
        roles: { worker: { instances: 2, stallTimeoutMs } },
        restartBackoff: { initialMs: 0, maxMs: 0 },
        stopGracePeriodMs: 500,
      },
      runnerFor: ({ index }) => nodeScriptRunner(index === 0 ? script : 'process.exit(0)', marker),
      logger: silentLogger,
    });
    const am = await cluster.applicationManager;
    am.onObservation((observation) => seen.push({ at: Date.now(), observation }));
    const outcome = await cluster.result;

    expect(outcome.status).toBe('succeeded');
    expect(outcome.restarts).toBe(1);
    expect(outcome.failures).toHaveLength(1);
    expect(outcome.failures[0]).toMatchObject({ role: 'worker', index: 0, reason: 'stalled' });
    expect(outcome.failures[0]!.message).toMatch(/no progress for \d+ ms \(stallTimeoutMs 1000\)/);

    const lastProgress = seen.findLast(
      ({ observation }) => observation.type === 'node-metrics' && observation.index === 0,
    );
    const failed = seen.find(({ observation }) => observation.type === 'node-failed');
    expect(lastProgress).toBeDefined();
    expect(failed).toBeDefined();
    const declaredAfter = failed!.at - lastProgress!.at;
    expect(declaredAfter).toBeGreaterThanOrEqual(stallTimeoutMs - 150); // metrics are coalesced for ≤ 100 ms
    expect(declaredAfter).toBeLessThanOrEqual(stallTimeoutMs + slackMs);
    // Worker 0 ran twice (the stalled attempt and its restart); the stopped process is gone.
    const attempts = seen.flatMap(({ observation }) =>
      observation.type === 'node-started' && observation.index === 0 ? [observation.attempt] : [],
    );
    expect(attempts).toEqual([0, 1]);
    expect(processesWithMarker(marker)).toEqual([]);
  }, 30_000);

  it('does not call a runner stalled while it waits for records that have not arrived', async () => {
    let reads = 0;
    // The first read takes three stall timeouts; the runner is starved, not stuck.
    const input: InputChannel = {
      readBatch: async () => {
        reads += 1;
        if (reads > 1) return null;
        await new Promise((resolve) => setTimeout(resolve, 3 * 300));
        return [new Uint8Array([1])];
      },
      async *[Symbol.asyncIterator]() {},
    };
    let records = 0;
    const cluster = launchLocalCluster({
      engine: createGenericEngine({ roles: ['worker'] }),
      config: { engine: 'generic', roles: { worker: { instances: 1 } }, stallTimeoutMs: 300 },
      channelsFor: () => ({ input }),
      runnerFor: () => ({
        description: 'reads until end-of-stream',
        start: (context) => ({
          result: (async (): Promise<RunnerResult> => {
            for (;;) {
              const batch = await context.input!.readBatch(10);
              if (batch === null) return { status: 'succeeded' };
              records += batch.length;
            }
          })(),
          stop: async () => {},
        }),
      }),
      logger: silentLogger,
    });
    const outcome = await cluster.result;
    expect(outcome).toMatchObject({ status: 'succeeded', restarts: 0 });
    expect(records).toBe(1);
  }, 20_000);

  it('is off for serving roles unless their own role config sets it', () => {
    const worker = { name: 'worker', lifecycle: 'finishes' as const, stallTimeoutMs: 9_000 };
    const ps = { name: 'ps', lifecycle: 'serves' as const, stallTimeoutMs: 9_000 };
    const roles = { worker: { instances: 1 }, ps: { instances: 1 } };
    expect(stallTimeoutFor({ roles }, worker, 'worker')).toBe(9_000);
    expect(stallTimeoutFor({ roles, stallTimeoutMs: 5_000 }, worker, 'worker')).toBe(5_000);
    expect(stallTimeoutFor({ roles, stallTimeoutMs: 5_000 }, ps, 'ps')).toBeUndefined();
    expect(
      stallTimeoutFor({ roles: { ...roles, ps: { instances: 1, stallTimeoutMs: 2_000 } } }, ps, 'ps'),
    ).toBe(2_000);
    expect(stallTimeoutFor({ roles }, undefined, 'worker')).toBeUndefined();
  });
});
