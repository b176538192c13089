import type { ClusterObservation, SourceProgress } from '@millrace/core';
import type { OperatorMetrics } from '@millrace/dataflow';

/** What `millrace run` reports, in every output mode (`--json` prints these as they are). */
export type RunEvent =
  | { type: 'log'; message: string }
  /** A line a runner process wrote (routed here so it never lands in the middle of the board or the JSON). */
  | { type: 'runner-output'; role: string; index: number; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'cluster-observation'; cluster: string; observation: ClusterObservation }
  | {
      type: 'operator-metrics';
      job: string;
      operators: readonly OperatorMetrics[];
      /** The bounded sources' records emitted of their total; absent when no source is bounded. */
      progress?: SourceProgress | undefined;
    }
  | { type: 'job-started'; job: string; attempt: number }
  | { type: 'job-restarting'; job: string; attempt: number; reason: string; delayMs: number }
  | { type: 'job-finished'; job: string; status: string; error?: string | undefined }
  | {
      type: 'run-finished';
      status: 'succeeded' | 'failed' | 'cancelled';
      durationMs: number;
      error?: { name: string; code?: string | undefined; message: string } | undefined;
    };

export interface RunReporter {
  event(event: RunEvent): void;
  /** The run ended; release the terminal. */
  close(): void;
}
