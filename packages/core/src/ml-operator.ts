/**
 * The MLOperator contract: how a dataflow host puts an ML cluster into a job. `addAMRole` adds the
 * cluster's application manager; `addRole` adds one role whose parallelism is its instance count,
 * subtask i feeding node i. `@millrace/runtime` implements it for the embedded dataflow
 * (`mlOperator`); another dataflow host implements the same interface for its own jobs and streams.
 *
 * Core knows nothing of a host's job and stream types, so the interface is parameterised by a
 * {@link DataflowHost}: an interface naming the host's job type and its stream type, with the
 * stream written against `this['item']` so `StreamOf<Host, T>` is the host's stream of `T`.
 */
import type { Codec } from './codec.js';
import type { ClusterConfig, ClusterConfigInput } from './config.js';
import type { MLFramework } from './ml-framework.js';
import type { InputCheckpointListener, Logger, Runner } from './runner.js';

/**
 * The types of a dataflow host. Implement it as, for example,
 * `interface MyHost extends DataflowHost { job: MyJob; stream: MyStream<this['item']> }`.
 */
export interface DataflowHost {
  /** The host's job (what operators are added to). */
  readonly job: unknown;
  /** Placeholder the host's `stream` type reads as its record type. */
  readonly item: unknown;
  /** The host's stream of `item` records. */
  readonly stream: unknown;
}

/** The host's stream of `T` records. */
export type StreamOf<Host extends DataflowHost, T> = (Host & { readonly item: T })['stream'];

/** A handle on the cluster `addAMRole` added; pass it to `addRole` when a job has several. */
export interface MLCluster {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly engine: MLFramework;
}

export interface AddAMRoleOptions {
  /** The MLFramework (engine) the cluster runs: its roles, completion and failure rules. */
  engine: MLFramework;
  /** Operator name in metrics and errors. Default `<cluster name>-am`. */
  name?: string;
  /** Where the AM, the node agents and in-process runners log. Default: silent. */
  logger?: Logger;
}

export interface AddRoleOptions<In, Out, Host extends DataflowHost = DataflowHost> {
  /** Number of nodes; also the operator's parallelism. Must match the cluster config. */
  instances: number;
  /** The runner each node starts (e.g. `streamProcessRunner(...)`, an engine's runner). */
  runner: Runner;
  /** Makes the role stream-mode: subtask i hands every record of this stream to runner i. */
  input?: StreamOf<Host, In>;
  /** Encodes input records and decodes output records. Default: UTF-8 JSON. */
  codec?: Codec<In | Out>;
  /** The cluster, when the job has more than one. */
  cluster?: MLCluster;
  /**
   * On a job that runs on several hosts: the host of each instance (`[0, 1]`: instance 0 on host
   * 0, instance 1 on host 1). Default: contiguous blocks, as even as possible, the first hosts one
   * more (4 instances on 3 hosts: {0, 1}, {2}, {3}). A host runs only the instances placed on it.
   */
  placement?: readonly number[];
  /** Operator name. Default `<cluster name>-<role>`. */
  name?: string;
  /**
   * Unread records buffered per node between the subtask and the runner (how far the pipeline
   * may run ahead of the runner), with replay on or off. Replay also keeps the records read and
   * not yet covered by a checkpoint, bounded by `replay.maxRecords` / `replay.maxBytes`. Default 4096.
   */
  queueCapacity?: number;
  /**
   * Stream mode: keep what each runner read until it acknowledges a checkpoint, and hand it to the
   * restarted runner after a failure (`true`, or bounds for the replay buffer; full means the
   * subtask waits). `false`: records a stopped runner had read are not replayed (at-most-once).
   * Default: on when the runner acknowledges checkpoints (`runner.acknowledgesCheckpoints`) or
   * the role has an `onInputCheckpoint` listener (which needs replay: `false` with one is refused).
   */
  replay?: boolean | ReplayOptions;
  /** Told when a runner of this role acknowledges a checkpoint (broker sources ack upstream then). */
  onInputCheckpoint?: InputCheckpointListener;
}

/** Bounds of a stream-mode role subtask's replay buffer. */
export interface ReplayOptions {
  /** Records held (unread + unacknowledged) before the subtask waits. Default 65 536. */
  maxRecords?: number | undefined;
  /** Bytes held before the subtask waits (one record is always admitted). Default 64 MiB. */
  maxBytes?: number | undefined;
  /**
   * How long a full buffer whose records were all read may wait for a checkpoint before the role
   * fails (the runner acknowledges too rarely for the buffer). Default 120 000 ms.
   */
  acknowledgeTimeoutMs?: number | undefined;
}

/** What a dataflow host implements to run ML clusters inside its jobs. */
export interface MLOperator<Host extends DataflowHost = DataflowHost> {
  /** Adds the cluster's application manager to `job`; rejects a config the engine does not accept. */
  addAMRole(job: Host['job'], config: ClusterConfigInput, options: AddAMRoleOptions): MLCluster;
  /** Adds role `role` of the job's cluster; returns the stream of what its runners write. */
  addRole<In = unknown, Out = unknown>(
    job: Host['job'],
    role: string,
    options: AddRoleOptions<In, Out, Host>,
  ): StreamOf<Host, Out>;
}
