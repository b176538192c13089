/**
 * What the application manager remembers about each node beyond the state machine's view: where
 * it is, which generation it must be in, when it last spoke, its stream and its latest metrics.
 */

import type { ServerWritableStream } from '@grpc/grpc-js';
import { type NodeKey, type NodeSpec, nodeKey } from '@millrace/core';
import type { ClusterEvent, WatchClusterRequest } from '@millrace/protocol';

export interface NodeRecord {
  role: string;
  index: number;
  /** The generation this node must be in; calls from below it are stale. */
  requiredGeneration: number;
  /** Where the node can be reached, from its latest registration. */
  spec?: NodeSpec | undefined;
  /** How many times the node registered (its next start's attempt number). */
  registrations: number;
  attempt: number;
  lastSeen: number;
  /** Generation in which the AM declared it dead (so a silent node is declared once). */
  declaredDeadIn?: number | undefined;
  metrics: Record<string, number>;
  stream?: ServerWritableStream<WatchClusterRequest, ClusterEvent> | undefined;
}

/** One record per expected node, keyed `role:index`. */
export function createNodeRecords(
  roles: Readonly<Record<string, { instances: number }>>,
): Map<NodeKey, NodeRecord> {
  const records = new Map<NodeKey, NodeRecord>();
  for (const [role, { instances }] of Object.entries(roles)) {
    for (let index = 0; index < instances; index++) {
      records.set(nodeKey(role, index), {
        role,
        index,
        requiredGeneration: 0,
        registrations: 0,
        attempt: 0,
        lastSeen: 0,
        metrics: {},
      });
    }
  }
  return records;
}
