import type { ClusterView, NodeFailure, NodeStatus } from '@millrace/core';
import { ConfigError, parseClusterConfig, validateConfigForEngine } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { createTensorflowEngine, tensorflow } from './engine.js';

function view(layout: Record<string, number>, finished: string[] = []): ClusterView {
  const nodes: Record<`${string}:${number}`, ClusterView['nodes'][`${string}:${number}`]> = {};
  for (const [role, instances] of Object.entries(layout)) {
    for (let index = 0; index < instances; index++) {
      const status: NodeStatus = finished.includes(`${role}:${index}`) ? 'finished' : 'running';
      nodes[`${role}:${index}`] = { role, index, status, generation: 0 };
    }
  }
  return { generation: 0, restarts: 0, roles: layout, nodes };
}

const failure = (role: string): NodeFailure => ({
  role,
  index: 0,
  generation: 0,
  reason: 'exited',
  message: 'x',
});

describe('tensorflow engine', () => {
  it('in batch mode ends when the chief finishes, or worker 0 without a chief', () => {
    expect(tensorflow.isJobFinished(view({ chief: 1, worker: 2, ps: 1 }, ['worker:0', 'worker:1']))).toBe(
      false,
    );
    expect(tensorflow.isJobFinished(view({ chief: 1, worker: 2, ps: 1 }, ['chief:0']))).toBe(true);
    expect(tensorflow.isJobFinished(view({ worker: 2, ps: 1 }, ['worker:1']))).toBe(false);
    expect(tensorflow.isJobFinished(view({ worker: 2, ps: 1 }, ['worker:0']))).toBe(true);
  });

  it('in stream mode ends when every worker and the chief finished, never waiting for ps or evaluator', () => {
    const engine = createTensorflowEngine({ mode: 'stream' });
    const layout = { chief: 1, worker: 2, ps: 1, evaluator: 1 };
    expect(engine.isJobFinished(view(layout, ['chief:0', 'worker:0']))).toBe(false);
    expect(engine.isJobFinished(view(layout, ['chief:0', 'worker:0', 'worker:1']))).toBe(true);
  });

  it('marks ps and evaluator as serving roles', () => {
    const serving = tensorflow.roles.filter((role) => role.lifecycle === 'serves').map((role) => role.name);
    expect(serving.sort()).toEqual(['evaluator', 'ps']);
  });

  it('restarts one async worker alone, but everything for a ps failure or in sync mode', () => {
    expect(tensorflow.failurePolicy(failure('worker'), view({ worker: 2 }))).toBe('restart-one');
    expect(tensorflow.failurePolicy(failure('ps'), view({ worker: 2 }))).toBe('restart-all');
    const sync = createTensorflowEngine({ training: 'sync' });
    expect(sync.failurePolicy(failure('worker'), view({ worker: 2 }))).toBe('restart-all');
  });

  it('restarts only the failed node of a prediction cluster, ps included (its shard reloads from the checkpoint)', () => {
    const prediction = createTensorflowEngine({ mode: 'stream', workload: 'prediction' });
    expect(prediction.failurePolicy(failure('ps'), view({ worker: 2, ps: 2 }))).toBe('restart-one');
    expect(prediction.failurePolicy(failure('worker'), view({ worker: 2, ps: 2 }))).toBe('restart-one');
  });

  it('gives every node a TF_CONFIG and its checkpoint directory', () => {
    const environment = tensorflow.nodeEnvironment({
      role: 'worker',
      index: 0,
      attempt: 0,
      checkpointDirectory: '/tmp/ckpt',
      clusterSpec: {
        jobName: 'j',
        generation: 0,
        roles: { worker: [{ role: 'worker', index: 0, host: '127.0.0.1', ports: { grpc: 4000 } }] },
      },
    });
    expect(JSON.parse(environment.TF_CONFIG!)).toEqual({
      cluster: { worker: ['127.0.0.1:4000'] },
      task: { type: 'worker', index: 0 },
    });
    expect(environment.MILLRACE_CHECKPOINT_DIR).toBe('/tmp/ckpt');
  });

  it('rejects a layout TensorFlow cannot run, naming the field', () => {
    const config = parseClusterConfig({
      engine: 'tensorflow',
      roles: { ps: { instances: 1 }, chief: { instances: 2 } },
    });
    expect(() => validateConfigForEngine(tensorflow, config)).toThrow(ConfigError);
    expect(() => validateConfigForEngine(tensorflow, config)).toThrow(
      /roles.chief.instances: TensorFlow allows at most one chief/,
    );
    const psOnly = parseClusterConfig({ engine: 'tensorflow', roles: { ps: { instances: 1 } } });
    expect(() => validateConfigForEngine(tensorflow, psOnly)).toThrow(/needs a chief or at least one worker/);
  });

  it('rejects unknown settings', () => {
    expect(() => createTensorflowEngine({ training: 'eventual' } as never)).toThrow(
      /tensorflow settings.training/,
    );
  });

  it('offers the TF.js prediction cluster as a runner, refusing a checkpoint and follow together', () => {
    expect(() =>
      tensorflow.runners!.predictor!({ checkpoint: '/models/a', follow: { directory: '/models' } } as never),
    ).toThrow(/give either checkpoint .* or follow/);
    expect(() => tensorflow.runners!.predictor!({ batchSize: 8 } as never)).toThrow(
      /tensorflow prediction options/,
    );
  });

  it('offers the TF.js parameter-server trainer as its runner', () => {
    expect(typeof tensorflow.runners?.trainer).toBe('function');
    expect(() => tensorflow.runners!.trainer!({ module: '' } as never)).toThrow(
      /tensorflow training options.module/,
    );
  });
});
