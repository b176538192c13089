import { describe, expect, it } from 'vitest';
import { type ClusterStatusReport, JobView } from './job-view.js';

function status(
  overrides: Partial<ClusterStatusReport> & { step?: number; ageMs?: number },
): ClusterStatusReport {
  return {
    state: 'running',
    generation: 0,
    restarts: 0,
    failures: [],
    outcome: '',
    nodes: [
      {
        role: 'worker',
        index: 0,
        status: 'running',
        attempt: 0,
        generation: overrides.generation ?? 0,
        host: '127.0.0.1',
        lastHeartbeatAgeMs: overrides.ageMs ?? 100,
        metrics: { step: overrides.step ?? 0 },
      },
    ],
    ...overrides,
  };
}

describe('JobView fed by observations and status reads at once (millrace run --ui)', () => {
  it('counts a restart once, whichever saw it first, and the observation fills in its nodes', () => {
    let now = 1_000;
    const view = new JobView({ now: () => now });
    view.apply({
      type: 'cluster-observation',
      cluster: 'train-am',
      observation: { type: 'node-started', role: 'worker', index: 0, generation: 0, attempt: 0 },
    });
    // The job's thread is busy: the board thread's status read sees the restart first.
    now += 1_000;
    view.apply({
      type: 'cluster-status',
      cluster: 'train-am',
      readAt: now,
      status: status({
        generation: 1,
        restarts: 1,
        failures: [{ role: 'worker', index: 0, generation: 0, reason: 'stalled', message: 'no progress' }],
      }),
    });
    expect(view.snapshot().restarts).toMatchObject([{ generation: 1, reason: 'stalled', nodes: [] }]);
    // Then the thread is free again and its observations arrive.
    now += 100;
    view.apply({
      type: 'cluster-observation',
      cluster: 'train-am',
      observation: {
        type: 'node-failed',
        failure: { role: 'worker', index: 0, generation: 0, reason: 'stalled', message: 'no progress' },
      },
    });
    view.apply({
      type: 'cluster-observation',
      cluster: 'train-am',
      observation: {
        type: 'generation-started',
        generation: 1,
        policy: 'restart-one',
        restarting: ['worker:0'],
      },
    });
    const snapshot = view.snapshot();
    expect(snapshot.restarts).toMatchObject([
      { generation: 1, reason: 'stalled', policy: 'restart-one', nodes: ['worker[0]'], at: 2_000 },
    ]);
    expect(snapshot.clusters[0]).toMatchObject({ restarts: 1, restartsByReason: { stalled: 1 } });
  });

  it('a status read older than the last observation updates heartbeat ages only', () => {
    let now = 1_000;
    const view = new JobView({ now: () => now });
    const readAt = now;
    now += 500;
    view.apply({
      type: 'cluster-observation',
      cluster: 'train-am',
      observation: { type: 'node-metrics', role: 'worker', index: 0, metrics: { step: 50 } },
    });
    view.apply({
      type: 'cluster-status',
      cluster: 'train-am',
      readAt,
      status: status({ step: 40, ageMs: 900 }),
    });
    const node = view.snapshot().clusters[0]!.nodes[0]!;
    expect(node).toMatchObject({ heartbeatAgeMs: 900, metrics: { step: 50 } });
    // A newer read is taken as it is.
    view.apply({
      type: 'cluster-status',
      cluster: 'train-am',
      readAt: now + 1,
      status: status({ step: 60 }),
    });
    expect(view.snapshot().clusters[0]!.nodes[0]!.metrics.step).toBe(60);
  });
});
