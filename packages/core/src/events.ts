import type { ClusterSpec } from './cluster.js';
import type { MillraceError, NodeFailure } from './errors.js';
import type { ClusterState } from './state-machine.js';

/**
 * What an application manager reports as a job runs (noun-verb names). The CLI's progress view,
 * `--json` output, the conformance kit and tests all read this one stream.
 */
export type ClusterObservation =
  | { type: 'state-changed'; state: ClusterState; generation: number }
  | { type: 'node-registered'; role: string; index: number; generation: number }
  | { type: 'cluster-ready'; spec: ClusterSpec }
  | { type: 'node-started'; role: string; index: number; generation: number; attempt: number }
  | { type: 'node-metrics'; role: string; index: number; metrics: Readonly<Record<string, number>> }
  | { type: 'node-finished'; role: string; index: number; generation: number }
  | { type: 'node-failed'; failure: NodeFailure }
  | {
      type: 'generation-started';
      generation: number;
      policy: 'restart-all' | 'restart-one';
      restarting: string[];
    }
  | { type: 'job-finished'; outcome: JobOutcome };

export interface JobOutcome {
  status: 'succeeded' | 'failed' | 'stopped';
  generation: number;
  restarts: number;
  failures: readonly NodeFailure[];
  /** Present when status is `failed`: a JobFailedError naming each failed node. */
  error?: MillraceError | undefined;
  /** Human-readable reason the job ended. */
  reason: string;
}
