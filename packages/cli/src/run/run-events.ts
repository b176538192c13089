import type { MessagePort } from 'node:worker_threads';
import type { ClusterObservation, SourceProgress } from '@millrace/core';
import type { ClusterStatusReport } from '@millrace/dashboard';
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

/**
 * What the board thread adds on its own once a second, whatever the job's thread is doing: the
 * time, and each followed cluster as its AM's latest status read describes it.
 */
export interface HeartbeatEvent {
  type: 'heartbeat';
  elapsedMs: number;
  /** How long the job's thread has not been heard from (it is busy, e.g. a stage computing); absent while it answers. */
  jobThreadBusyMs?: number | undefined;
  /** Each cluster whose AM the board reads (keyed like the `cluster-observation` events), as of `readAt` (ISO time). */
  clusters: { cluster: string; readAt: string; status: ClusterStatusReport }[];
}

/** Everything a reporter shows: the job's events and the board thread's heartbeats. */
export type BoardEvent = RunEvent | HeartbeatEvent;

/** Where an application manager listens, so the board can read its status itself. */
export interface ApplicationManagerEndpoint {
  /** The name the cluster's observations carry (`cluster-observation` events). */
  cluster: string;
  address: string;
  token: string;
  fingerprint?: string | undefined;
}

export interface RunReporter {
  /** `at`: when the event happened (epoch ms), when it is shown later than that; now by default. */
  event(event: BoardEvent, at?: number): void;
  /** A cluster's AM to read the status from (reporters on their own thread do; others ignore it). */
  follow?(endpoint: ApplicationManagerEndpoint): void;
  /** Sends each status read on `port` too, as a `cluster-status` event (for the dashboard's view). */
  shareStatus?(port: MessagePort): void;
  /** The run ended; release the terminal (once everything was written). */
  close(): void | Promise<void>;
}
