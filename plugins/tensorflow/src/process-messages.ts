/** Messages between a training process and the runner that started it (Node IPC, advanced serialization). */
export type ChildMessage =
  | { type: 'read'; maxRecords: number }
  | { type: 'metrics'; metrics: Record<string, number> }
  /** A durable checkpoint holds this node's input records 1 … position. */
  | { type: 'checkpointed'; position: number }
  /**
   * A prediction worker's outputs for its input records up to `position`: the runner writes them
   * downstream, acknowledges the position (they are never replayed) and answers `written`.
   */
  | { type: 'output'; records: Uint8Array[]; position: number }
  /** A failure that a restart cannot fix (a record the model cannot take): the job fails at once. */
  | { type: 'fatal'; message: string }
  | {
      type: 'log';
      level: 'debug' | 'info' | 'warn' | 'error';
      message: string;
      fields?: Record<string, unknown>;
    };

export type ParentMessage =
  | { type: 'records'; records: Uint8Array[] | null }
  /** A prediction worker's output batch is written downstream. */
  | { type: 'written' }
  /** The cluster moved to a later generation (a node restarted alone, perhaps at a new address). */
  | { type: 'cluster-spec'; spec: import('@millrace/core').ClusterSpec };

/** Everything a training process needs, passed in `MILLRACE_TF_NODE`. */
export interface TrainingProcessPayload {
  role: string;
  index: number;
  clusterSpec: import('@millrace/core').ClusterSpec;
  checkpointDirectory: string;
  training: 'async' | 'sync';
  /** How input records arrive: a shared-memory ring (default), IPC messages (fallback), or none. */
  input: { kind: 'ring'; path: string } | { kind: 'ipc' } | { kind: 'none' };
  /** The input position this start resumes after (the runner context's `resumePosition`). */
  resumePosition: number;
  /** The cluster generation this start belongs to (0: the job's first). */
  generation: number;
  options: import('./training-options.js').TrainingOptions;
}

/** Everything a prediction process needs, passed in `MILLRACE_TF_NODE`. */
export interface PredictionProcessPayload {
  role: string;
  index: number;
  clusterSpec: import('@millrace/core').ClusterSpec;
  input: TrainingProcessPayload['input'];
  resumePosition: number;
  options: import('./prediction-options.js').PredictionClusterOptions;
}

export const payloadVariable = 'MILLRACE_TF_NODE';
