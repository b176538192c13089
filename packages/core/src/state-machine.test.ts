import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from './config.js';
import type { NodeFailure } from './errors.js';
import { defineMLFramework, type FailurePolicy, type MLFramework, rolesFinished } from './ml-framework.js';
import {
  type ClusterEvent,
  type ClusterSnapshot,
  ClusterStateMachine,
  clusterStates,
  initialSnapshot,
  isTerminal,
  reduce,
} from './state-machine.js';

function testEngine(policy: FailurePolicy): MLFramework {
  return defineMLFramework({
    specificationVersion: 'v1',
    name: 'state-test',
    roles: [
      { name: 'worker', description: 'computes', lifecycle: 'finishes' },
      { name: 'ps', description: 'serves variables', lifecycle: 'serves' },
    ],
    isJobFinished: (view) => rolesFinished(view, ['worker']),
    failurePolicy: () => policy,
    nodeEnvironment: () => ({}),
  });
}

const config = parseClusterConfig({
  engine: 'state-test',
  roles: { worker: { instances: 2 }, ps: { instances: 1 } },
  maxRestarts: 2,
  restartBackoff: { initialMs: 100, maxMs: 300 },
});

function failure(role: string, index: number, generation: number): NodeFailure {
  return { role, index, generation, reason: 'exited', exitCode: 1, message: 'boom' };
}

function register(machine: ClusterStateMachine, generation = machine.snapshot.generation) {
  for (const [role, index] of [
    ['worker', 0],
    ['worker', 1],
    ['ps', 0],
  ] as const) {
    machine.dispatch({ type: 'node-registered', role, index, generation });
  }
}

describe('ClusterStateMachine', () => {
  it('runs once every node registered and publishes the spec', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-all'));
    machine.dispatch({ type: 'node-registered', role: 'worker', index: 0, generation: 0 });
    expect(machine.snapshot.state).toBe('registering');
    machine.dispatch({ type: 'node-registered', role: 'worker', index: 1, generation: 0 });
    const last = machine.dispatch({ type: 'node-registered', role: 'ps', index: 0, generation: 0 });
    expect(machine.snapshot.state).toBe('running');
    expect(last.accepted && last.effects).toEqual([{ type: 'publish-cluster-spec', generation: 0 }]);
  });

  it('finishes when the engine says so and stops the serving roles', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-all'));
    register(machine);
    machine.dispatch({ type: 'node-finished', role: 'worker', index: 0, generation: 0 });
    expect(machine.snapshot.state).toBe('running');
    const result = machine.dispatch({ type: 'node-finished', role: 'worker', index: 1, generation: 0 });
    expect(machine.snapshot.state).toBe('finished');
    expect(result.accepted && result.effects).toEqual([
      { type: 'stop-nodes', nodes: ['ps:0'], reason: 'job finished' },
      { type: 'job-succeeded' },
    ]);
  });

  it('restart-all bumps the generation, restarts every node, and backs off exponentially', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-all'));
    register(machine);
    const result = machine.dispatch({ type: 'node-failed', failure: failure('worker', 1, 0) });
    expect(machine.snapshot.state).toBe('failing-over');
    expect(machine.snapshot.generation).toBe(1);
    expect(result.accepted && result.effects).toEqual([
      {
        type: 'schedule-restart',
        policy: 'restart-all',
        nodes: ['worker:0', 'worker:1', 'ps:0'],
        generation: 1,
        delayMs: 100,
      },
    ]);
    machine.dispatch({ type: 'restart-cluster' });
    register(machine, 1);
    expect(machine.snapshot.state).toBe('running');
    const second = machine.dispatch({ type: 'node-failed', failure: failure('worker', 0, 1) });
    expect(second.accepted && second.effects[0]).toMatchObject({ delayMs: 200, generation: 2 });
  });

  it('restart-one restarts only the failed node; survivors move into the new generation', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-one'));
    register(machine);
    machine.dispatch({ type: 'node-failed', failure: failure('worker', 1, 0) });
    expect(machine.snapshot.nodes['worker:0']).toMatchObject({ status: 'running', generation: 1 });
    expect(machine.snapshot.nodes['worker:1']).toMatchObject({ status: 'pending' });
    machine.dispatch({ type: 'restart-cluster' });
    machine.dispatch({ type: 'node-registered', role: 'worker', index: 1, generation: 1 });
    expect(machine.snapshot.state).toBe('running');
  });

  it('fails the job once maxRestarts is spent, naming every failure', () => {
    const machine = new ClusterStateMachine({ ...config, maxRestarts: 0 }, testEngine('restart-all'));
    register(machine);
    const result = machine.dispatch({ type: 'node-failed', failure: failure('worker', 0, 0) });
    expect(machine.snapshot.state).toBe('failed');
    expect(result.accepted && result.effects.at(-1)).toMatchObject({ type: 'job-failed' });
    expect(machine.snapshot.outcome).toContain('worker[0] failed');
  });

  it('ignores failures from an older generation (a peer dying because of the restart)', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-all'));
    register(machine);
    machine.dispatch({ type: 'node-failed', failure: failure('worker', 0, 0) });
    machine.dispatch({ type: 'restart-cluster' });
    const stale = machine.dispatch({ type: 'node-failed', failure: failure('worker', 1, 0) });
    expect(stale.accepted).toBe(false);
    expect(machine.snapshot.restarts).toBe(1);
  });

  it('rejects duplicate registrations and unknown nodes without changing state', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-all'));
    machine.dispatch({ type: 'node-registered', role: 'worker', index: 0, generation: 0 });
    const before = machine.snapshot;
    expect(
      machine.dispatch({ type: 'node-registered', role: 'worker', index: 0, generation: 0 }).accepted,
    ).toBe(false);
    expect(
      machine.dispatch({ type: 'node-registered', role: 'worker', index: 7, generation: 0 }).accepted,
    ).toBe(false);
    expect(
      machine.dispatch({ type: 'node-registered', role: 'chief', index: 0, generation: 0 }).accepted,
    ).toBe(false);
    expect(machine.snapshot).toBe(before);
  });

  it('stop-job stops the live nodes and ends the job', () => {
    const machine = new ClusterStateMachine(config, testEngine('restart-all'));
    register(machine);
    const result = machine.dispatch({ type: 'stop-job', reason: 'user asked' });
    expect(machine.snapshot.state).toBe('stopped');
    expect(result.accepted && result.effects).toEqual([
      { type: 'stop-nodes', nodes: ['worker:0', 'worker:1', 'ps:0'], reason: 'user asked' },
      { type: 'job-stopped', reason: 'user asked' },
    ]);
  });
});

describe('state machine properties (random event sequences)', () => {
  const nodeArbitrary = fc.constantFrom(
    ['worker', 0],
    ['worker', 1],
    ['ps', 0],
    ['worker', 5],
    ['chief', 0],
  ) as fc.Arbitrary<[string, number]>;
  const generationArbitrary = fc.integer({ min: 0, max: 4 });
  const eventArbitrary: fc.Arbitrary<ClusterEvent> = fc.oneof(
    fc
      .tuple(nodeArbitrary, generationArbitrary)
      .map(([[role, index], generation]) => ({ type: 'node-registered' as const, role, index, generation })),
    fc.constant({ type: 'cluster-complete' as const }),
    fc
      .tuple(nodeArbitrary, generationArbitrary)
      .map(([[role, index], generation]) => ({ type: 'node-finished' as const, role, index, generation })),
    fc.tuple(nodeArbitrary, generationArbitrary).map(([[role, index], generation]) => ({
      type: 'node-failed' as const,
      failure: failure(role, index, generation),
    })),
    fc.constant({ type: 'restart-cluster' as const }),
    fc.constant({ type: 'stop-job' as const, reason: 'property' }),
  );
  const policyArbitrary = fc.constantFrom<FailurePolicy>('restart-all', 'restart-one', 'fail');

  it('never enters an illegal state, generations only grow, and terminal states absorb everything', () => {
    fc.assert(
      fc.property(policyArbitrary, fc.array(eventArbitrary, { maxLength: 80 }), (policy, events) => {
        const options = { engine: testEngine(policy), restartBackoff: config.restartBackoff };
        let snapshot: ClusterSnapshot = initialSnapshot(config);
        let terminalSeen: ClusterSnapshot | undefined;
        for (const event of events) {
          const result = reduce(snapshot, event, options);
          expect(clusterStates).toContain(result.snapshot.state);
          expect(result.snapshot.generation).toBeGreaterThanOrEqual(snapshot.generation);
          expect(result.snapshot.restarts).toBeLessThanOrEqual(config.maxRestarts);
          if (terminalSeen) {
            expect(result.accepted).toBe(false);
            expect(result.snapshot).toBe(terminalSeen);
          }
          if (result.snapshot.state === 'running') {
            // A running cluster has every node accounted for: none is still waiting to register.
            expect(Object.values(result.snapshot.nodes).some((node) => node.status === 'pending')).toBe(
              false,
            );
          }
          snapshot = result.snapshot;
          if (isTerminal(snapshot.state)) terminalSeen ??= snapshot;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a finished or failed job never runs again, whatever comes next', () => {
    fc.assert(
      fc.property(fc.array(eventArbitrary, { maxLength: 40 }), (events) => {
        const machine = new ClusterStateMachine({ ...config, maxRestarts: 0 }, testEngine('restart-all'));
        register(machine);
        machine.dispatch({ type: 'node-failed', failure: failure('worker', 0, 0) });
        expect(machine.snapshot.state).toBe('failed');
        for (const event of events) {
          machine.dispatch(event);
          expect(machine.snapshot.state).toBe('failed');
        }
      }),
      { numRuns: 200 },
    );
  });
});
