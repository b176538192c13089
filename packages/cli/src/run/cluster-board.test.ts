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
});
