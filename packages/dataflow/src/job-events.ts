import type { ClusterObservation } from '@millrace/core';
import type { OperatorMetrics } from './runtime/metrics.js';

/** What `job.onEvent` listeners receive. */
export type JobEvent =
  | { type: 'job-started'; attempt: number }
  /** Periodic (every `metricsIntervalMs`) and once more when the job ends. */
  | { type: 'operator-metrics'; operators: readonly OperatorMetrics[] }
  /** Something an operator published with `context.publish`. */
  | { type: 'operator-event'; operator: string; subtask: number; payload: unknown }
  /** A cluster observation an ML operator forwarded from its application manager. */
  | { type: 'cluster-observation'; operator: string; subtask: number; observation: ClusterObservation }
  | { type: 'job-restarting'; attempt: number; error: unknown; delayMs: number }
  | { type: 'job-finished'; status: JobStatus; error?: unknown };

export type JobStatus = 'finished' | 'cancelled' | 'failed';

export type JobEventListener = (event: JobEvent) => void;
