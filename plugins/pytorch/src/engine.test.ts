import {
  type ClusterSpec,
  ClusterStateMachine,
  ConfigError,
  parseClusterConfig,
  validateConfigForEngine,
} from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { createPytorchEngine, pytorch } from './engine.js';

function spec(workers: number, options: { master?: boolean; hosts?: string[] } = {}): ClusterSpec {
  const node = (role: string, index: number) => ({
    role,
    index,
    host: options.hosts?.[index] ?? '127.0.0.1',
    ports: { rendezvous: 29_500 + index + (role === 'master' ? 100 : 0) },
  });
  return {
    jobName: 'train',
    generation: 2,
    roles: {
      ...(options.master ? { master: [node('master', 0)] } : {}),
      worker: Array.from({ length: workers }, (_, index) => node('worker', index)),
    },
  };
}

const environmentOf = (clusterSpec: ClusterSpec, role: string, index: number, attempt = 0) =>
  pytorch.nodeEnvironment({ role, index, attempt, clusterSpec, checkpointDirectory: '/ckpt/train' });

describe('pytorch engine: torchrun-compatible environment', () => {
  it('folds the master into worker 0: its host and rendezvous port are MASTER_ADDR/PORT for every rank', () => {
    const cluster = spec(3);
    for (const index of [0, 1, 2]) {
      const environment = environmentOf(cluster, 'worker', index, 1);
      expect(environment).toMatchObject({
        RANK: String(index),
        LOCAL_RANK: String(index),
        WORLD_SIZE: '3',
        LOCAL_WORLD_SIZE: '3',
        GROUP_RANK: '0',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: '29500',
        TORCHELASTIC_RESTART_COUNT: '1',
        MILLRACE_CHECKPOINT_DIR: '/ckpt/train',
        MILLRACE_ATTEMPT: '1',
        MILLRACE_GENERATION: '2',
        MILLRACE_TORCH_BACKEND: 'auto',
        OMP_NUM_THREADS: '1',
      });
    }
  });

  it('makes a configured master rank 0 and numbers the workers after it', () => {
    const cluster = spec(2, { master: true });
    expect(environmentOf(cluster, 'master', 0)).toMatchObject({
      RANK: '0',
      WORLD_SIZE: '3',
      MASTER_PORT: '29600',
    });
    expect(environmentOf(cluster, 'worker', 0)).toMatchObject({ RANK: '1', MASTER_PORT: '29600' });
    expect(environmentOf(cluster, 'worker', 1)).toMatchObject({ RANK: '2', LOCAL_RANK: '2' });
  });

  it('groups ranks by host the way torchrun numbers nodes', () => {
    const cluster = spec(4, { hosts: ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.2'] });
    expect(environmentOf(cluster, 'worker', 3)).toMatchObject({
      RANK: '3',
      LOCAL_RANK: '1',
      LOCAL_WORLD_SIZE: '2',
      GROUP_RANK: '1',
      GROUP_WORLD_SIZE: '2',
      MASTER_ADDR: '10.0.0.1',
    });
  });

  it('says which node lacks the rendezvous port instead of producing a broken MASTER_PORT', () => {
    const cluster: ClusterSpec = {
      jobName: 'train',
      generation: 0,
      roles: { worker: [{ role: 'worker', index: 0, host: '127.0.0.1', ports: {} }] },
    };
    expect(() => environmentOf(cluster, 'worker', 0)).toThrow(/worker\[0\].*'rendezvous'/);
  });

  it('passes its settings on: backend and threads per worker', () => {
    const engine = createPytorchEngine({ backend: 'gloo', threadsPerWorker: 0 });
    const environment = engine.nodeEnvironment({
      role: 'worker',
      index: 0,
      attempt: 0,
      clusterSpec: spec(1),
      checkpointDirectory: '/c',
    });
    expect(environment.MILLRACE_TORCH_BACKEND).toBe('gloo');
    expect(environment.OMP_NUM_THREADS).toBeUndefined();
  });
});

describe('pytorch engine: settings and config validation', () => {
  it('rejects bad settings naming the field', () => {
    expect(() => createPytorchEngine({ backend: 'mpi' as 'gloo' })).toThrow(
      /pytorch engine settings\.backend/,
    );
  });

  it('rejects a master role with more than one instance and unknown engineOptions', () => {
    const config = parseClusterConfig({
      engine: 'pytorch',
      roles: { worker: { instances: 2 }, master: { instances: 2 } },
      engineOptions: { backend: 'gloo' },
    });
    let error: unknown;
    try {
      validateConfigForEngine(pytorch, config);
    } catch (caught) {
      error = caught;
    }
    expect(ConfigError.isInstance(error)).toBe(true);
    expect((error as ConfigError).message).toMatch(/roles\.master\.instances: must be 1/);
    expect((error as ConfigError).message).toMatch(/engineOptions\.backend/);
  });
});

describe('pytorch engine: cluster rules', () => {
  const config = parseClusterConfig({
    engine: 'pytorch',
    roles: { worker: { instances: 2 } },
    maxRestarts: 1,
  });

  it('is complete when every worker registered and finished when every worker finished', () => {
    const machine = new ClusterStateMachine(config, pytorch);
    machine.dispatch({ type: 'node-registered', role: 'worker', index: 0, generation: 0 });
    expect(machine.snapshot.state).toBe('registering');
    machine.dispatch({ type: 'node-registered', role: 'worker', index: 1, generation: 0 });
    expect(machine.snapshot.state).toBe('running');
    machine.dispatch({ type: 'node-finished', role: 'worker', index: 1, generation: 0 });
    expect(machine.snapshot.state).toBe('running');
    machine.dispatch({ type: 'node-finished', role: 'worker', index: 0, generation: 0 });
    expect(machine.snapshot.state).toBe('finished');
  });

  it('restarts every worker when one fails, and fails the job past maxRestarts', () => {
    const machine = new ClusterStateMachine(config, pytorch);
    for (const index of [0, 1])
      machine.dispatch({ type: 'node-registered', role: 'worker', index, generation: 0 });
    const failure = { role: 'worker', index: 1, reason: 'exited' as const, message: 'exit 1', exitCode: 1 };
    const first = machine.dispatch({ type: 'node-failed', failure: { ...failure, generation: 0 } });
    expect(first.accepted && first.effects).toEqual([
      expect.objectContaining({
        type: 'schedule-restart',
        policy: 'restart-all',
        nodes: ['worker:0', 'worker:1'],
      }),
    ]);
    machine.dispatch({ type: 'restart-cluster' });
    for (const index of [0, 1])
      machine.dispatch({ type: 'node-registered', role: 'worker', index, generation: 1 });
    machine.dispatch({ type: 'node-failed', failure: { ...failure, generation: 1 } });
    expect(machine.snapshot.state).toBe('failed');
  });
});
