import { describe, expect, it } from 'vitest';
import { ClusterBoard } from './cluster-board.js';

describe('ClusterBoard', () => {
  it('shows the cluster state, restarts and each node with its attempt and metrics', () => {
    const board = new ClusterBoard();
    const spec = {
      jobName: 'j',
      generation: 0,
      roles: { worker: [0, 1].map((index) => ({ role: 'worker', index, host: '127.0.0.1', ports: {} })) },
    };
    board.apply('train', { type: 'cluster-ready', spec });
    board.apply('train', { type: 'state-changed', state: 'running', generation: 0 });
    board.apply('train', { type: 'node-started', role: 'worker', index: 0, generation: 0, attempt: 0 });
    board.apply('train', {
      type: 'node-metrics',
      role: 'worker',
      index: 0,
      metrics: { loss: 0.123456, step: 10 },
    });
    board.apply('train', {
      type: 'node-failed',
      failure: { role: 'worker', index: 1, generation: 0, reason: 'exited', exitCode: 1, message: 'boom' },
    });
    board.apply('train', {
      type: 'generation-started',
      generation: 1,
      policy: 'restart-all',
      restarting: ['worker:0', 'worker:1'],
    });
    board.apply('train', { type: 'node-started', role: 'worker', index: 1, generation: 1, attempt: 1 });
    expect(board.render()).toEqual([
      'cluster train: running · generation 1 · restarts 1',
      '  worker[0]    restarting attempt 0  loss 0.123 · step 10',
      '  worker[1]    running    attempt 1',
    ]);
  });

  it('shows metrics in human units and, once the cluster ended, no node still running', () => {
    const board = new ClusterBoard();
    board.apply('train', { type: 'node-started', role: 'ps', index: 0, generation: 0, attempt: 0 });
    board.apply('train', {
      type: 'node-metrics',
      role: 'ps',
      index: 0,
      metrics: { samples_per_second: 13_210.5, step: 1_234_567, pid: 4242 },
    });
    board.apply('train', {
      type: 'job-finished',
      outcome: { status: 'succeeded', generation: 0, restarts: 0, failures: [], reason: 'the job finished' },
    });
    expect(board.render()).toEqual([
      'cluster train: succeeded · generation 0 · restarts 0',
      '  ps[0]        stopped    attempt 0  13.2k samples/s · step 1.2M',
    ]);
  });

  it("takes the AM's status reads: heartbeat ages always, the rest unless an observation came after the read", () => {
    const board = new ClusterBoard();
    const status = (step: number, ageMs: number) => ({
      state: 'running',
      generation: 1,
      restarts: 1,
      nodes: [
        {
          role: 'worker',
          index: 0,
          status: 'running',
          attempt: 1,
          generation: 1,
          host: '127.0.0.1',
          lastHeartbeatAgeMs: ageMs,
          metrics: { step },
        },
      ],
      failures: [{ role: 'worker', index: 0, generation: 0, reason: 'exited', message: 'killed' }],
      outcome: '',
    });
    board.applyStatus('train', status(40, 300), Date.now());
    expect(board.render()).toEqual([
      'cluster train: running · generation 1 · restarts 1',
      '  worker[0]    running    attempt 1  heartbeat 0.3 s ago  step 40',
    ]);
    board.apply('train', { type: 'node-metrics', role: 'worker', index: 0, metrics: { step: 50 } });
    // A read made before that observation does not take the step back; its heartbeat age counts.
    board.applyStatus('train', status(45, 1_200), Date.now() - 1_000);
    expect(board.render()[1]).toBe('  worker[0]    running    attempt 1  heartbeat 1.2 s ago  step 50');
    board.applyStatus(
      'train',
      { ...status(60, 100), state: 'finished', outcome: 'the job finished' },
      Date.now() + 1,
    );
    expect(board.render()).toEqual([
      'cluster train: succeeded · generation 1 · restarts 1',
      '  worker[0]    stopped    attempt 1  step 60',
    ]);
  });
});
