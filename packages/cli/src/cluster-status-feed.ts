/**
 * Reads a cluster's job status from its AM (GetJobStatus, the same answer `millrace status`
 * prints) and hands it on: how `millrace am --ui` and `millrace dashboard --join` show a
 * standalone cluster, and how `millrace run`'s board thread keeps showing a cluster while the
 * job's own thread is busy. A status read carries the real heartbeat age of every node, which
 * observations alone do not.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterStatusReport, DashboardThread } from '@millrace/dashboard';
import {
  type ApplicationManager,
  type ApplicationManagerConnection,
  fromWireFailure,
} from '@millrace/runtime';

/** The AM's answer to GetJobStatus. */
export type JobStatus = ReturnType<ApplicationManager['status']>;

/** How often the status is read while the job runs. */
export const statusReadIntervalMs = 250;

export function toClusterStatusReport(status: JobStatus): ClusterStatusReport {
  return {
    state: status.state,
    generation: status.generation,
    restarts: status.restarts,
    nodes: status.nodes.map((node) => ({
      role: node.role,
      index: node.index,
      status: node.status,
      attempt: node.attempt,
      generation: node.generation,
      host: node.host,
      // A node not yet registered has no heartbeat; the AM reports 0 for it.
      lastHeartbeatAgeMs: node.status === 'pending' ? undefined : node.lastHeartbeatAgeMs,
      metrics: node.metrics,
    })),
    failures: status.failures.map((wire) => {
      const failure = fromWireFailure(wire);
      return {
        role: failure.role,
        index: failure.index,
        generation: failure.generation,
        reason: failure.reason,
        message: failure.message,
      };
    }),
    outcome: status.outcome,
  };
}

/** Hands one status read to the dashboard; when the job has ended, its outcome as the run's end too. */
export function showStatus(dashboard: DashboardThread, status: JobStatus, startedAt: number): void {
  dashboard.apply({ type: 'cluster-status', cluster: status.jobName, status: toClusterStatusReport(status) });
  if (!status.outcome) return;
  dashboard.apply({
    type: 'run-finished',
    status: status.state === 'finished' ? 'succeeded' : status.state,
    durationMs: Date.now() - startedAt,
    error: status.state === 'failed' ? { message: status.outcome } : undefined,
  });
}

export interface StatusFollowOptions {
  connection: ApplicationManagerConnection;
  /** Names the reader to the AM, which then waits (bounded) until it read the outcome; '' for none. */
  observer?: string | undefined;
  /** The read to start from (one made to check the connection); read first when absent. */
  first?: JobStatus | undefined;
  intervalMs?: number | undefined;
  /** Gives up once the AM has not answered for this long. */
  unreachableBoundMs: number;
  /** Stops reading (the promise resolves with what was read last). */
  signal?: AbortSignal | undefined;
  onStatus(status: JobStatus): void;
}

/**
 * Reads the status every `intervalMs` and hands each read to `onStatus`, until the job has an
 * outcome, the AM stayed unreachable for `unreachableBoundMs`, or `signal` aborts. Resolves with
 * the last status read (undefined when none was) and the last error.
 */
export async function followJobStatus(
  options: StatusFollowOptions,
): Promise<{ status: JobStatus | undefined; lastError: unknown }> {
  const { connection, signal } = options;
  const observer = options.observer ?? '';
  let status = options.first;
  /** A read not yet handed to `onStatus`. */
  let fresh = status !== undefined;
  let lastReadAt = Date.now();
  let lastError: unknown;
  while (!signal?.aborted) {
    if (!fresh) {
      try {
        status = await connection.getJobStatus(observer);
        fresh = true;
        lastReadAt = Date.now();
      } catch (error) {
        lastError = error;
        if (Date.now() - lastReadAt > options.unreachableBoundMs) break;
      }
    }
    if (signal?.aborted) break;
    if (fresh && status) {
      fresh = false;
      options.onStatus(status);
      if (status.outcome) break;
    }
    await sleep(options.intervalMs ?? statusReadIntervalMs, undefined, { signal }).catch(() => {});
  }
  return { status, lastError };
}
