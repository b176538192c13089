import type { ClusterConfig, ClusterSnapshot, MLFramework, NodeKey } from '@millrace/core';
import type { JobStatus } from '@millrace/protocol';
import type { NodeRecord } from './node-record.js';
import { toWireFailure } from './protocol-mapping.js';

/** The job and every node as `GetJobStatus` (and `millrace status`) reports them. */
export function describeJobStatus(input: {
  config: ClusterConfig;
  engine: MLFramework;
  snapshot: ClusterSnapshot;
  nodes: ReadonlyMap<NodeKey, NodeRecord>;
  now?: number;
}): JobStatus {
  const { config, engine, snapshot } = input;
  const now = input.now ?? Date.now();
  return {
    jobName: config.name,
    engine: engine.name,
    state: snapshot.state,
    generation: snapshot.generation,
    restarts: snapshot.restarts,
    maxRestarts: snapshot.maxRestarts,
    outcome: snapshot.outcome ?? '',
    failures: snapshot.failures.map(toWireFailure),
    nodes: [...input.nodes.entries()].map(([key, record]) => ({
      role: record.role,
      index: record.index,
      status: snapshot.nodes[key]?.status ?? 'pending',
      generation: snapshot.nodes[key]?.generation ?? 0,
      host: record.spec?.host ?? '',
      ports: { ...record.spec?.ports },
      pid: record.spec?.pid ?? 0,
      attempt: record.attempt,
      lastHeartbeatAgeMs: record.lastSeen ? now - record.lastSeen : 0,
      metrics: { ...record.metrics },
    })),
  };
}
