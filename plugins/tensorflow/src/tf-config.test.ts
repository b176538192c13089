import type { ClusterSpec, NodeSpec } from '@millrace/core';
import { ConfigError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { buildTfConfig, tfConfigJson } from './tf-config.js';

function spec(layout: Record<string, number>): ClusterSpec {
  let port = 2222;
  const roles: Record<string, NodeSpec[]> = {};
  for (const [role, instances] of Object.entries(layout)) {
    roles[role] = Array.from({ length: instances }, (_, index) => ({
      role,
      index,
      host: '127.0.0.1',
      ports: { grpc: port++ },
    }));
  }
  return { jobName: 'tf', generation: 0, roles };
}

// The expected objects below are written out literally, the way TensorFlow's distributed training
// guide and TFConfigClusterResolver document TF_CONFIG, not derived from the code under test.
describe('TF_CONFIG', () => {
  it('lists workers and the task for a worker-only cluster (MultiWorkerMirroredStrategy)', () => {
    expect(buildTfConfig(spec({ worker: 2 }), 'worker', 1)).toEqual({
      cluster: { worker: ['127.0.0.1:2222', '127.0.0.1:2223'] },
      task: { type: 'worker', index: 1 },
    });
  });

  it('puts the chief in its own job, separate from the workers, as TensorFlow expects', () => {
    const layout = spec({ chief: 1, worker: 2 });
    expect(buildTfConfig(layout, 'chief', 0)).toEqual({
      cluster: { chief: ['127.0.0.1:2222'], worker: ['127.0.0.1:2223', '127.0.0.1:2224'] },
      task: { type: 'chief', index: 0 },
    });
    expect(buildTfConfig(layout, 'worker', 0).task).toEqual({ type: 'worker', index: 0 });
  });

  it('lists chief, worker and ps for ParameterServerStrategy, the same cluster on every node', () => {
    const layout = spec({ chief: 1, worker: 2, ps: 2 });
    const cluster = {
      chief: ['127.0.0.1:2222'],
      worker: ['127.0.0.1:2223', '127.0.0.1:2224'],
      ps: ['127.0.0.1:2225', '127.0.0.1:2226'],
    };
    expect(buildTfConfig(layout, 'ps', 1)).toEqual({ cluster, task: { type: 'ps', index: 1 } });
    expect(buildTfConfig(layout, 'worker', 1)).toEqual({ cluster, task: { type: 'worker', index: 1 } });
  });

  it('leaves the evaluator out of the cluster but gives it its own task', () => {
    const layout = spec({ chief: 1, worker: 1, ps: 1, evaluator: 1 });
    const forEvaluator = buildTfConfig(layout, 'evaluator', 0);
    expect(forEvaluator).toEqual({
      cluster: { chief: ['127.0.0.1:2222'], worker: ['127.0.0.1:2223'], ps: ['127.0.0.1:2224'] },
      task: { type: 'evaluator', index: 0 },
    });
    expect(Object.keys(buildTfConfig(layout, 'worker', 0).cluster)).not.toContain('evaluator');
  });

  it('serialises to the JSON string Python reads, keys as documented', () => {
    const parsed = JSON.parse(tfConfigJson(spec({ worker: 1, ps: 1 }), 'ps', 0));
    expect(Object.keys(parsed).sort()).toEqual(['cluster', 'task']);
    expect(Object.keys(parsed.task).sort()).toEqual(['index', 'type']);
    expect(typeof parsed.task.index).toBe('number');
  });

  it('names the node when it is not in the spec', () => {
    expect(() => buildTfConfig(spec({ worker: 1 }), 'worker', 3)).toThrow(ConfigError);
    expect(() => buildTfConfig(spec({ worker: 1 }), 'worker', 3)).toThrow(/roles\.worker: has no node 3/);
  });
});
