/**
 * The cluster state machine, as a typed transition table plus a pure `reduce`. The application
 * manager feeds it events and carries out the effects it returns; the engine's hooks decide when
 * the cluster is complete, when the job is finished, and what a failure means.
 *
 *   initializing ─node-registered→ registering ─cluster-complete→ running ─node-finished→ finished
 *        │                              ▲                          │
 *        │                              └──── restart-cluster ── failing-over ←─node-failed (restartable)
 *        │                                                         │
 *        └────────────── stop-job (any live state) → stopped       └─node-failed (exhausted / policy fail)→ failed
 *
 * Invariants (property-tested): the state is always one of {@link clusterStates}; the generation
 * never decreases; finished, failed and stopped absorb every event.
 */
import { type NodeKey, nodeKey } from './cluster.js';
import type { ClusterConfig } from './config.js';
import type { NodeFailure } from './errors.js';
import {
  type ClusterView,
  everyNodeRegistered,
  type FailurePolicy,
  type MLFramework,
  type NodeView,
} from './ml-framework.js';

export const clusterStates = [
  'initializing',
  'registering',
  'running',
  'failing-over',
  'finished',
  'failed',
  'stopped',
] as const;
export type ClusterState = (typeof clusterStates)[number];

export const terminalStates: readonly ClusterState[] = ['finished', 'failed', 'stopped'];

export type ClusterEvent =
  | { type: 'node-registered'; role: string; index: number; generation: number }
  | { type: 'cluster-complete' }
  | { type: 'node-finished'; role: string; index: number; generation: number }
  | { type: 'node-failed'; failure: NodeFailure }
  | { type: 'restart-cluster' }
  | { type: 'stop-job'; reason: string };

export type ClusterEventType = ClusterEvent['type'];

/** Which events each state accepts, and where they may lead. Anything else is rejected. */
export const transitionTable: Readonly<
  Record<ClusterState, Partial<Record<ClusterEventType, readonly ClusterState[]>>>
> = {
  initializing: {
    'node-registered': ['registering'],
    'node-failed': ['failing-over', 'failed'],
    'stop-job': ['stopped'],
  },
  registering: {
    'node-registered': ['registering'],
    'cluster-complete': ['running'],
    'node-finished': ['registering', 'finished'],
    'node-failed': ['failing-over', 'failed'],
    'stop-job': ['stopped'],
  },
  running: {
    'node-finished': ['running', 'finished'],
    'node-failed': ['failing-over', 'failed'],
    'stop-job': ['stopped'],
  },
  'failing-over': {
    'restart-cluster': ['registering'],
    'stop-job': ['stopped'],
  },
  finished: {},
  failed: {},
  stopped: {},
};

export interface ClusterSnapshot extends ClusterView {
  state: ClusterState;
  maxRestarts: number;
  /** Every failure seen, oldest first. */
  failures: readonly NodeFailure[];
  /** The policy chosen for the failover in progress, when failing over. */
  pendingPolicy?: Exclude<FailurePolicy, 'fail'> | undefined;
  /** Why the job ended, once it did. */
  outcome?: string | undefined;
}

export type ClusterEffect =
  /** Every expected node registered: publish the cluster spec of this generation to all nodes. */
  | { type: 'publish-cluster-spec'; generation: number }
  /** Restart these nodes into `generation` after `delayMs` (then dispatch `restart-cluster`). */
  | {
      type: 'schedule-restart';
      policy: 'restart-all' | 'restart-one';
      nodes: NodeKey[];
      generation: number;
      delayMs: number;
    }
  /** Stop these nodes' runners (serving roles when the job finished, everyone on stop or failure). */
  | { type: 'stop-nodes'; nodes: NodeKey[]; reason: string }
  | { type: 'job-succeeded' }
  | { type: 'job-failed'; reason: string; failures: readonly NodeFailure[] }
  | { type: 'job-stopped'; reason: string };

export type TransitionResult =
  | { accepted: true; snapshot: ClusterSnapshot; effects: ClusterEffect[] }
  | { accepted: false; snapshot: ClusterSnapshot; reason: string };

export function initialSnapshot(config: Pick<ClusterConfig, 'roles' | 'maxRestarts'>): ClusterSnapshot {
  const nodes: Record<NodeKey, NodeView> = {};
  const roles: Record<string, number> = {};
  for (const [role, { instances }] of Object.entries(config.roles)) {
    roles[role] = instances;
    for (let index = 0; index < instances; index++) {
      nodes[nodeKey(role, index)] = { role, index, status: 'pending', generation: 0 };
    }
  }
  return {
    state: 'initializing',
    generation: 0,
    restarts: 0,
    maxRestarts: config.maxRestarts,
    roles,
    nodes,
    failures: [],
  };
}

export interface ReduceOptions {
  engine: MLFramework;
  /** Restart backoff: the delay doubles per restart from `initialMs` up to `maxMs`. */
  restartBackoff: { initialMs: number; maxMs: number };
}

export function isTerminal(state: ClusterState): boolean {
  return terminalStates.includes(state);
}

/** Pure transition: never mutates `snapshot`; rejects events the table does not allow. */
export function reduce(
  snapshot: ClusterSnapshot,
  event: ClusterEvent,
  options: ReduceOptions,
): TransitionResult {
  const allowed = transitionTable[snapshot.state][event.type];
  if (!allowed) return reject(snapshot, `event '${event.type}' is not allowed in state '${snapshot.state}'`);
  const result = apply(snapshot, event, options);
  if (result.accepted && !allowed.includes(result.snapshot.state)) {
    // A bug in apply(); the table is the contract, so refuse rather than enter an illegal state.
    return reject(
      snapshot,
      `internal: '${event.type}' from '${snapshot.state}' led to '${result.snapshot.state}'`,
    );
  }
  return result;
}

function reject(snapshot: ClusterSnapshot, reason: string): TransitionResult {
  return { accepted: false, snapshot, reason };
}

function withNode(snapshot: ClusterSnapshot, key: NodeKey, node: NodeView): Record<NodeKey, NodeView> {
  return { ...snapshot.nodes, [key]: node };
}

function apply(snapshot: ClusterSnapshot, event: ClusterEvent, options: ReduceOptions): TransitionResult {
  switch (event.type) {
    case 'node-registered': {
      const key = nodeKey(event.role, event.index);
      const node = snapshot.nodes[key];
      if (!node) return reject(snapshot, `no node ${key} in this cluster`);
      if (event.generation !== snapshot.generation) {
        return reject(
          snapshot,
          `registration for generation ${event.generation}, cluster is at ${snapshot.generation}`,
        );
      }
      if (node.status !== 'pending') return reject(snapshot, `node ${key} is already ${node.status}`);
      const nodes = withNode(snapshot, key, { ...node, status: 'registered', generation: event.generation });
      return { accepted: true, snapshot: { ...snapshot, state: 'registering', nodes }, effects: [] };
    }
    case 'cluster-complete': {
      const complete = (options.engine.isClusterComplete ?? everyNodeRegistered)(snapshot);
      if (!complete) return reject(snapshot, 'the cluster is not complete yet');
      const nodes: Record<NodeKey, NodeView> = {};
      for (const [key, node] of Object.entries(snapshot.nodes) as [NodeKey, NodeView][]) {
        nodes[key] = node.status === 'registered' ? { ...node, status: 'running' } : node;
      }
      return {
        accepted: true,
        snapshot: { ...snapshot, state: 'running', nodes, pendingPolicy: undefined },
        effects: [{ type: 'publish-cluster-spec', generation: snapshot.generation }],
      };
    }
    case 'node-finished': {
      const key = nodeKey(event.role, event.index);
      const node = snapshot.nodes[key];
      if (!node) return reject(snapshot, `no node ${key} in this cluster`);
      if (event.generation < snapshot.generation)
        return reject(snapshot, `stale generation ${event.generation}`);
      if (node.status !== 'running') return reject(snapshot, `node ${key} is ${node.status}, not running`);
      const next = { ...snapshot, nodes: withNode(snapshot, key, { ...node, status: 'finished' }) };
      if (!options.engine.isJobFinished(next)) return { accepted: true, snapshot: next, effects: [] };
      const stillRunning = liveNodes(next);
      return {
        accepted: true,
        snapshot: { ...next, state: 'finished', outcome: 'the job finished' },
        effects: [
          ...(stillRunning.length
            ? [{ type: 'stop-nodes' as const, nodes: stillRunning, reason: 'job finished' }]
            : []),
          { type: 'job-succeeded' },
        ],
      };
    }
    case 'node-failed': {
      const { failure } = event;
      const key = nodeKey(failure.role, failure.index);
      const node = snapshot.nodes[key];
      if (!node) return reject(snapshot, `no node ${key} in this cluster`);
      if (failure.generation < snapshot.generation)
        return reject(snapshot, `stale generation ${failure.generation}`);
      if (node.status === 'finished' || node.status === 'failed') {
        return reject(snapshot, `node ${key} is already ${node.status}`);
      }
      const failures = [...snapshot.failures, failure];
      const failedView = {
        ...snapshot,
        failures,
        nodes: withNode(snapshot, key, { ...node, status: 'failed' as const }),
      };
      const policy = failure.permanent ? 'fail' : options.engine.failurePolicy(failure, failedView);
      if (policy === 'fail' || snapshot.restarts >= snapshot.maxRestarts) {
        const node = `${failure.role}[${failure.index}]`;
        const reason = failure.permanent
          ? `${node} failed in a way a restart cannot fix (no restart attempted)`
          : policy === 'fail'
            ? `engine '${options.engine.name}' does not restart after a failure of ${node}`
            : `${node} failed and the cluster already restarted ${snapshot.restarts} time(s) (maxRestarts ${snapshot.maxRestarts})`;
        const others = liveNodes(failedView);
        return {
          accepted: true,
          snapshot: { ...failedView, state: 'failed', outcome: reason },
          effects: [
            ...(others.length ? [{ type: 'stop-nodes' as const, nodes: others, reason: 'job failed' }] : []),
            { type: 'job-failed', reason, failures },
          ],
        };
      }
      const generation = snapshot.generation + 1;
      const restarting = policy === 'restart-all' ? (Object.keys(failedView.nodes) as NodeKey[]) : [key];
      const nodes: Record<NodeKey, NodeView> = { ...failedView.nodes };
      for (const restartKey of restarting) nodes[restartKey] = { ...nodes[restartKey]!, status: 'pending' };
      for (const [otherKey, other] of Object.entries(nodes) as [NodeKey, NodeView][]) {
        // Survivors of a restart-one move into the new generation in place.
        if (!restarting.includes(otherKey)) nodes[otherKey] = { ...other, generation };
      }
      const delayMs = Math.min(
        options.restartBackoff.maxMs,
        options.restartBackoff.initialMs * 2 ** snapshot.restarts,
      );
      return {
        accepted: true,
        snapshot: {
          ...failedView,
          nodes,
          state: 'failing-over',
          generation,
          restarts: snapshot.restarts + 1,
          pendingPolicy: policy,
        },
        effects: [{ type: 'schedule-restart', policy, nodes: restarting, generation, delayMs }],
      };
    }
    case 'restart-cluster':
      return { accepted: true, snapshot: { ...snapshot, state: 'registering' }, effects: [] };
    case 'stop-job': {
      const live = liveNodes(snapshot);
      return {
        accepted: true,
        snapshot: { ...snapshot, state: 'stopped', outcome: `stopped: ${event.reason}` },
        effects: [
          ...(live.length ? [{ type: 'stop-nodes' as const, nodes: live, reason: event.reason }] : []),
          { type: 'job-stopped', reason: event.reason },
        ],
      };
    }
  }
}

function liveNodes(snapshot: ClusterSnapshot): NodeKey[] {
  return (Object.entries(snapshot.nodes) as [NodeKey, NodeView][])
    .filter(([, node]) => node.status === 'registered' || node.status === 'running')
    .map(([key]) => key);
}

/**
 * A stateful wrapper around {@link reduce}: keeps the snapshot and, after a registration, checks
 * completeness itself and follows with `cluster-complete`, so callers only report what they saw.
 */
export class ClusterStateMachine {
  #snapshot: ClusterSnapshot;
  readonly #options: ReduceOptions;

  constructor(config: Pick<ClusterConfig, 'roles' | 'maxRestarts' | 'restartBackoff'>, engine: MLFramework) {
    this.#snapshot = initialSnapshot(config);
    this.#options = { engine, restartBackoff: config.restartBackoff };
  }

  get snapshot(): ClusterSnapshot {
    return this.#snapshot;
  }

  dispatch(event: ClusterEvent): TransitionResult {
    const result = reduce(this.#snapshot, event, this.#options);
    if (!result.accepted) return result;
    this.#snapshot = result.snapshot;
    const effects = [...result.effects];
    if (event.type === 'node-registered') {
      const complete = (this.#options.engine.isClusterComplete ?? everyNodeRegistered)(this.#snapshot);
      if (complete) {
        const followUp = reduce(this.#snapshot, { type: 'cluster-complete' }, this.#options);
        if (followUp.accepted) {
          this.#snapshot = followUp.snapshot;
          effects.push(...followUp.effects);
        }
      }
    }
    return { accepted: true, snapshot: this.#snapshot, effects };
  }
}
