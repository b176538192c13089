/**
 * Finds the nodes that went silent: registered or running, and no call from them for
 * `intervalMs × missedLimit`. Each silent node is reported once per generation.
 *
 * The monitor also guards against the AM's own stalls: when a check runs late, the AM's event
 * loop was blocked (an in-process runner busy on the main thread) and could not read heartbeats
 * meanwhile, so the stall is credited to every node instead of counted as their silence.
 */
import type { ClusterSnapshot, NodeFailure, NodeKey } from '@millrace/core';
import type { NodeRecord } from './node-record.js';

export class HeartbeatMonitor {
  /** How often the AM should call {@link findSilentNodes}. */
  readonly checkEveryMs: number;
  readonly #intervalMs: number;
  readonly #missedLimit: number;
  #lastCheck = Date.now();

  constructor(heartbeat: { intervalMs: number; missedLimit: number }) {
    this.#intervalMs = heartbeat.intervalMs;
    this.#missedLimit = heartbeat.missedLimit;
    this.checkEveryMs = Math.max(10, Math.floor(heartbeat.intervalMs / 4));
  }

  findSilentNodes(
    snapshot: ClusterSnapshot,
    nodes: ReadonlyMap<NodeKey, NodeRecord>,
    now: number,
  ): NodeFailure[] {
    const stalledMs = now - this.#lastCheck - this.checkEveryMs;
    this.#lastCheck = now;
    if (stalledMs > this.#intervalMs) {
      for (const record of nodes.values()) if (record.lastSeen) record.lastSeen += stalledMs;
    }
    const limitMs = this.#intervalMs * this.#missedLimit;
    const silent: NodeFailure[] = [];
    for (const [key, record] of nodes) {
      const status = snapshot.nodes[key]?.status;
      if (status !== 'registered' && status !== 'running') continue;
      if (record.declaredDeadIn === snapshot.generation || now - record.lastSeen <= limitMs) continue;
      record.declaredDeadIn = snapshot.generation;
      silent.push({
        role: record.role,
        index: record.index,
        generation: snapshot.generation,
        reason: 'heartbeat-missed',
        message: `no heartbeat for ${now - record.lastSeen} ms (limit ${this.#missedLimit} × ${this.#intervalMs} ms); the node is declared dead`,
      });
    }
    return silent;
  }
}
