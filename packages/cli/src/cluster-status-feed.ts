/**
 * Feeds a dashboard from the AM's job status (GetJobStatus, the same answer `millrace status`
 * prints): how `millrace am --ui` and `millrace dashboard --join` show a standalone cluster. A
 * status read carries the real heartbeat age of every node, which observations alone do not.
 */
import type { ClusterStatusReport, DashboardThread } from '@millrace/dashboard';
import { type ApplicationManager, fromWireFailure } from '@millrace/runtime';

/** The AM's answer to GetJobStatus. */
type JobStatus = ReturnType<ApplicationManager['status']>;

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
