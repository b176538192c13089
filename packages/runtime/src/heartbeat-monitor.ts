/**
 * Finds the nodes that went silent: registered or running, and no call from them for
 * `intervalMs × missedLimit`. Each silent node is reported once per generation.
 *
 * Two kinds of stall are not a node's silence, and the monitor credits both:
 * - The AM's own: when a check runs late, the thread hosting the AM was blocked and could not read
 *   heartbeats meanwhile, so the stall is credited to every node.
 * - The pipeline thread's, when the AM has a thread of its own (an embedded job): the node agents
 *   of this process run on the pipeline's thread, and a stage that computes without pause holds
 *   their heartbeats. Their process is alive (this code runs in it), so while that thread is
 *   stalled they are not declared dead, and when it takes a turn again they get a fresh interval.
 *   Agents of other processes are judged by their heartbeats alone.
 */
import type { ClusterSnapshot, NodeFailure, NodeKey, NodeSpec } from '@millrace/core';
import type { NodeRecord } from './node-record.js';

/** The liveness of another thread of this process that hosts node agents (see the header). */
export interface HostThreadLiveness {
  /** Whether the node that registered with `spec` has its agent on that thread. */
  hosts(spec: NodeSpec | undefined): boolean;
  /** Milliseconds since that thread last took a turn of its event loop. */
  quietForMs(now: number): number;
}

export class HeartbeatMonitor {
  /** How often the AM should call {@link findSilentNodes}. */
  readonly checkEveryMs: number;
  readonly #intervalMs: number;
  readonly #missedLimit: number;
  readonly #hostThread: HostThreadLiveness | undefined;
  #hostThreadWasStalled = false;
  #lastCheck = Date.now();

  constructor(heartbeat: { intervalMs: number; missedLimit: number }, hostThread?: HostThreadLiveness) {
    this.#intervalMs = heartbeat.intervalMs;
    this.#missedLimit = heartbeat.missedLimit;
    this.#hostThread = hostThread;
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
    const hostThread = this.#hostThread;
    const hostThreadStalled = hostThread !== undefined && hostThread.quietForMs(now) > this.#intervalMs;
    if (hostThread !== undefined && this.#hostThreadWasStalled && !hostThreadStalled) {
      // The agents on that thread run again and heartbeat at their next tick: count from now.
      for (const record of nodes.values()) if (hostThread.hosts(record.spec)) record.lastSeen = now;
    }
    this.#hostThreadWasStalled = hostThreadStalled;
    const limitMs = this.#intervalMs * this.#missedLimit;
    const silent: NodeFailure[] = [];
    for (const [key, record] of nodes) {
      const status = snapshot.nodes[key]?.status;
      if (status !== 'registered' && status !== 'running') continue;
      if (record.declaredDeadIn === snapshot.generation || now - record.lastSeen <= limitMs) continue;
      if (hostThreadStalled && hostThread.hosts(record.spec)) continue;
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
