/**
 * The live picture of every tracked cluster, folded from cluster observations and from status
 * reads of its AM (which the board thread makes itself while the job's thread is busy): its
 * state, generation and restarts, and per node its status, attempt, heartbeat age and latest
 * metrics.
 */
import type { ClusterObservation } from '@millrace/core';
import type { ClusterStatusReport } from '@millrace/dashboard';

export interface NodeLine {
  role: string;
  index: number;
  status: string;
  attempt: number;
  metrics: Record<string, number>;
  /** From the latest status read; unknown before one. */
  heartbeatAgeMs?: number | undefined;
}

export interface ClusterLine {
  name: string;
  state: string;
  generation: number;
  restarts: number;
  nodes: Map<string, NodeLine>;
  /** When the last observation of it was applied (epoch ms). */
  observedAt: number;
}

export class ClusterBoard {
  readonly clusters = new Map<string, ClusterLine>();

  #cluster(name: string): ClusterLine {
    let line = this.clusters.get(name);
    if (!line) {
      line = { name, state: 'initializing', generation: 0, restarts: 0, nodes: new Map(), observedAt: 0 };
      this.clusters.set(name, line);
    }
    return line;
  }

  #node(line: ClusterLine, role: string, index: number): NodeLine {
    const key = `${role}[${index}]`;
    let found = line.nodes.get(key);
    if (!found) {
      found = { role, index, status: 'pending', attempt: 0, metrics: {} };
      line.nodes.set(key, found);
    }
    return found;
  }

  apply(cluster: string, observation: ClusterObservation): void {
    const line = this.#cluster(cluster);
    line.observedAt = Date.now();
    const node = (role: string, index: number) => this.#node(line, role, index);
    switch (observation.type) {
      case 'state-changed':
        line.state = observation.state;
        line.generation = observation.generation;
        break;
      case 'node-registered':
        node(observation.role, observation.index).status = 'registered';
        break;
      case 'cluster-ready':
        for (const nodes of Object.values(observation.spec.roles))
          for (const spec of nodes) node(spec.role, spec.index);
        break;
      case 'node-started': {
        const started = node(observation.role, observation.index);
        started.status = 'running';
        started.attempt = observation.attempt;
        break;
      }
      case 'node-metrics':
        Object.assign(node(observation.role, observation.index).metrics, observation.metrics);
        break;
      case 'node-finished':
        node(observation.role, observation.index).status = 'finished';
        break;
      case 'node-failed':
        node(observation.failure.role, observation.failure.index).status = 'failed';
        break;
      case 'generation-started':
        line.restarts += 1;
        line.generation = observation.generation;
        for (const key of observation.restarting) {
          const at = key.lastIndexOf(':');
          node(key.slice(0, at), Number(key.slice(at + 1))).status = 'restarting';
        }
        break;
      case 'job-finished':
        line.state = observation.outcome.status;
        stopLeftovers(line);
        break;
    }
  }

  /**
   * A status read of the cluster's AM, made at `readAt` (epoch ms): heartbeat ages are taken as
   * they are; the rest only when no observation arrived since (an older read must not undo it).
   */
  applyStatus(cluster: string, status: ClusterStatusReport, readAt: number): void {
    const line = this.#cluster(cluster);
    for (const reported of status.nodes)
      this.#node(line, reported.role, reported.index).heartbeatAgeMs = reported.lastHeartbeatAgeMs;
    if (readAt < line.observedAt) return;
    line.generation = status.generation;
    line.restarts = status.restarts;
    for (const reported of status.nodes) {
      const node = this.#node(line, reported.role, reported.index);
      node.status = reported.status;
      node.attempt = reported.attempt;
      Object.assign(node.metrics, reported.metrics);
    }
    // The AM's terminal states are finished, failed and stopped; observations say succeeded.
    line.state = status.outcome && status.state === 'finished' ? 'succeeded' : status.state;
    if (status.outcome) stopLeftovers(line);
  }

  /** Text lines for a terminal, one header per cluster and one line per node. */
  render(): string[] {
    const lines: string[] = [];
    for (const cluster of this.clusters.values()) {
      lines.push(
        `cluster ${cluster.name}: ${cluster.state} · generation ${cluster.generation} · restarts ${cluster.restarts}`,
      );
      const nodes = [...cluster.nodes.values()].sort(
        (a, b) => a.role.localeCompare(b.role) || a.index - b.index,
      );
      for (const node of nodes) {
        const metrics = formatMetrics(node.metrics);
        // A heartbeat age is shown while it means something: the node is alive and expected to beat.
        const heartbeat =
          node.heartbeatAgeMs !== undefined && (node.status === 'running' || node.status === 'registered')
            ? `  heartbeat ${(node.heartbeatAgeMs / 1000).toFixed(1)} s ago`
            : '';
        lines.push(
          `  ${`${node.role}[${node.index}]`.padEnd(12)} ${node.status.padEnd(10)} attempt ${node.attempt}${heartbeat}${metrics ? `  ${metrics}` : ''}`,
        );
      }
    }
    return lines;
  }
}

/**
 * Nodes still shown running when the cluster ended were stopped with it (serving roles): say so,
 * so the board agrees with the outcome.
 */
function stopLeftovers(line: ClusterLine): void {
  for (const node of line.nodes.values())
    if (node.status === 'running' || node.status === 'registered' || node.status === 'pending')
      node.status = 'stopped';
}

/** Metrics in human units: `samples_per_second` as `13.2k samples/s`, counts as `1.2M`. */
export function formatMetrics(metrics: Readonly<Record<string, number>>): string {
  return Object.entries(metrics)
    .filter(([name]) => name !== 'pid')
    .map(([name, value]) => {
      const perSecond = /^(.*)_per_second$/.exec(name);
      return perSecond ? `${humanNumber(value)} ${perSecond[1]}/s` : `${name} ${humanNumber(value)}`;
    })
    .join(' · ');
}

/** `13200` → `13.2k`; small fractions keep three significant digits (a loss of 0.0123). */
export function humanNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  for (const [limit, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const)
    if (abs >= limit) return `${(value / limit).toFixed(1)}${suffix}`;
  if (Number.isInteger(value)) return String(value);
  return abs >= 100 ? value.toFixed(0) : abs >= 1 ? value.toFixed(2) : value.toPrecision(3);
}
