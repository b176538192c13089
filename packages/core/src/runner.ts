import type { ClusterSpec } from './cluster.js';

/** Structured logging for runners and engines; fields are merged into the log record. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Numbers a runner reports as it goes (loss, step, samples per second); the CLI shows them. */
export interface MetricsReporter {
  report(metrics: Readonly<Record<string, number>>): void;
}

/**
 * Records stored back to back: record i is `data[offsets[i] … offsets[i + 1])`, so `offsets` has
 * one entry more than there are records and need not start at 0. One byte array and one offset
 * table for a whole batch, where an array of records costs an object per record.
 */
export interface PackedRecords {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
}

/**
 * Records arriving for this node from the pipeline (stream-mode roles). Records are encoded bytes;
 * the role's codec decodes them. The iterator ends at end-of-stream.
 */
export interface InputChannel extends AsyncIterable<Uint8Array> {
  /** Up to `maxRecords` records, waiting for at least one; `null` at end-of-stream. */
  readBatch(maxRecords: number): Promise<Uint8Array[] | null>;
  /**
   * The same records as `readBatch`, from the same position, as they are stored: up to
   * `maxRecords` of them packed (possibly fewer than `readBatch` would give). A channel that holds
   * its records packed offers this, and whatever moves them on in bulk (the ring pump) prefers it:
   * the records cross into the ring in one copy, with no view per record. Reading one way or the
   * other may be mixed.
   */
  readPacked?(maxRecords: number): Promise<PackedRecords | null>;
  /**
   * Called by whatever moves this channel's records on into a buffer of its own (a pump into a
   * shared-memory ring) with a reader of how full that buffer is (0..1), and with `undefined`
   * when it stops, so the node's metrics can show it. Channels that do not show it leave it out.
   */
  setDownstreamFill?(read: (() => number) | undefined): void;
}

/** Records this node emits downstream. `write` resolves when the record is accepted (backpressure). */
export interface OutputChannel {
  write(record: Uint8Array): Promise<void>;
  writeBatch(records: readonly Uint8Array[]): Promise<void>;
  /** No more records will follow. */
  end(): Promise<void>;
}

/** Everything a runner gets when it starts on a node. */
export interface RunnerContext {
  jobName: string;
  role: string;
  index: number;
  /** The cluster generation this start belongs to; grows by one at every restart. */
  generation: number;
  /** How many times this node has been started before (0 for the first start). */
  attempt: number;
  clusterSpec: ClusterSpec;
  /**
   * Tells `listener` the cluster spec of each later generation this runner keeps running through
   * (another node restarted alone, perhaps at another address). Runners that talk to other nodes
   * directly use it to find a restarted peer. Absent outside the runtime's node agent.
   */
  onClusterSpec?: ((listener: (spec: ClusterSpec) => void) => void) | undefined;
  /** Environment the engine built for this node (e.g. `TF_CONFIG`, `RANK`, `MASTER_ADDR`). */
  environment: Readonly<Record<string, string>>;
  /** Present for stream-mode roles (a role with an input stream). */
  input?: InputChannel | undefined;
  /** Present when the role's output is consumed downstream. */
  output?: OutputChannel | undefined;
  /**
   * Name of the codec the role encodes `input` records with and decodes `output` records with
   * (`json` by default in `addRole`). A runner that decodes with another codec fails at start,
   * naming both, instead of misreading every record. Absent outside a role (hand-built contexts).
   */
  codec?: string | undefined;
  /** A directory that survives restarts of this job, for checkpoints. */
  checkpointDirectory: string;
  /** Sockets the agent reserved for this node's ports, by name, for runners that can adopt them. */
  reservedPorts: Readonly<Record<string, number>>;
  logger: Logger;
  metrics: MetricsReporter;
  /** Fires when the agent wants the runner to stop (job stop or a restart). */
  signal: AbortSignal;
  /**
   * Stream-mode roles: the input position this start resumes after. Positions number the records
   * of this node's input from 1; `input` yields record `resumePosition + 1` first. 0 on a first
   * start and for roles without input. With replay on, it is the position of the last
   * acknowledged checkpoint, so a runner that restores that checkpoint continues exactly where it
   * left off.
   */
  resumePosition: number;
  /**
   * Acknowledges a checkpoint that covers every input record up to `position` (the count of
   * records this node's runners have consumed, across restarts). Call it after the checkpoint is
   * durably written: the role then releases those records from its replay buffer, and sources
   * may acknowledge them upstream. Positions must not go backwards or beyond what was read.
   * Engines' checkpoint helpers call it for the user.
   */
  checkpointed(position: number): void;
}

/**
 * Told when a stream-mode role subtask's runner acknowledged a checkpoint: every record of that
 * subtask's input up to `position` now lives in a checkpoint and will never be replayed. A broker
 * source acknowledges its entries upstream (XACK, JetStream ack) only once this covers them.
 */
export interface InputCheckpointAcknowledged {
  /** The role operator's name (the dataflow operator, e.g. `cluster-worker`). */
  operator: string;
  role: string;
  /** The role subtask (= node index) whose input the position counts. */
  subtaskIndex: number;
  /** Highest acknowledged input position of that subtask (records 1 … position). */
  position: number;
  /** The acknowledged position before this one: this acknowledgement covers `previous + 1` … `position`. */
  previous: number;
  /**
   * The records this acknowledgement covers, decoded with the role's codec, in position order
   * (a source finds its entry ids in them). Empty when the role runs with replay off.
   */
  records: readonly unknown[];
}

/** A callback for {@link InputCheckpointAcknowledged}; it must not throw (errors are logged). */
export type InputCheckpointListener = (acknowledged: InputCheckpointAcknowledged) => void;

/** How a runner ended. A runner that resolves `failed` makes its node fail. */
export type RunnerResult =
  | { status: 'succeeded' }
  | {
      status: 'failed';
      message: string;
      exitCode?: number | undefined;
      signal?: string | undefined;
      stderrTail?: string | undefined;
      /**
       * A restart cannot fix this failure (interpreter or module missing, an import error, a bad
       * runner config): the job fails at once instead of running through its restarts.
       */
      permanent?: boolean | undefined;
    }
  | { status: 'stopped' };

export interface RunnerHandle {
  /** Settles when the runner ends; never rejects (a failure is a `failed` result). */
  readonly result: Promise<RunnerResult>;
  /** Asks the runner to stop and resolves once it has (implementations bound the wait). */
  stop(reason: string): Promise<void>;
}

/**
 * What engines and users implement: start work on a node. `start` may be async (a process to
 * spawn); it rejects only when the runner could not be started at all.
 */
export interface Runner {
  /** A short description for logs, e.g. `python train.py`. */
  readonly description: string;
  /**
   * The runner acknowledges checkpoints (`context.checkpointed`), so a stream-mode role gives it
   * replay by default: after a restart it receives the records after its last checkpoint.
   */
  readonly acknowledgesCheckpoints?: boolean | undefined;
  start(context: RunnerContext): RunnerHandle | Promise<RunnerHandle>;
}
