/**
 * The extension point: how an operator with its own lifecycle plugs into a job. Built-in operators
 * (map, window, join …) and other packages' operators (the ML role operator, Pyodide and model
 * prediction operators) all implement these interfaces; `DataStream.transform` and `Job.source`
 * take factories of them. One instance is created per subtask.
 */
import type { ClusterObservation } from '@millrace/core';

/** Where a subtask sends its results. Records are buffered and sent downstream in batches. */
export interface Output<T> {
  /** Buffers one record for downstream (never blocks; call `flush` to apply backpressure). */
  emit(record: T): void;
  /** Buffers several records. */
  emitAll(records: readonly T[]): void;
  /**
   * Sends everything buffered and resolves once downstream accepted it (backpressure). Operators
   * driven by `processBatch` need not call it (the runtime flushes after each batch); operators
   * that emit on their own schedule (a background reader, a timer) must await it.
   */
  flush(): Promise<void>;
}

/** What a subtask knows about itself and the job. */
export interface SubtaskContext<O> {
  /** The operator's name as given in its options (or the default, e.g. `map`). */
  readonly operatorName: string;
  /** 0-based index of this subtask. */
  readonly subtaskIndex: number;
  /** How many subtasks the operator has. */
  readonly parallelism: number;
  /** Per input, how many upstream subtasks (producers) feed this subtask. */
  readonly inputParallelism: readonly number[];
  /** Fires when the job is cancelled or failed; stop work and release resources. */
  readonly signal: AbortSignal;
  readonly output: Output<O>;
  /** Adds `delta` to an operator-specific counter shown with the operator's metrics. */
  count(metric: string, delta?: number): void;
  /**
   * A level (a queue's fill, a buffer's size) that `read` returns whenever the job takes its
   * metrics; shown per subtask in `OperatorMetrics.subtasks[i].gauges`. Registering a name again
   * replaces its reader.
   */
  gauge(metric: string, read: () => number): void;
  /** Publishes an arbitrary event to `job.onEvent` listeners (`type: 'operator-event'`). */
  publish(payload: unknown): void;
  /** Publishes a cluster observation (`type: 'cluster-observation'`), e.g. from an ML operator. */
  publishObservation(observation: ClusterObservation): void;
}

/**
 * A transformation with a lifecycle. `open` runs once per subtask before any record (load a
 * model, start a process), `processBatch` for each batch of input records (emit results through
 * `context.output`), `endInput` when one input has ended, `finish` after every input ended
 * (emit what is still held), and `close` always, last — also on failure and cancellation — to
 * release resources.
 */
export interface StreamOperator<I, O> {
  open?(context: SubtaskContext<O>): void | Promise<void>;
  /**
   * `input` is 0 for single-input operators; 0 or 1 (left/right) for two-input ones. `producer`
   * is the upstream subtask the batch came from (batches of one producer arrive in order).
   */
  processBatch(batch: readonly I[], input: number, producer: number): void | Promise<void>;
  /** One upstream subtask of `input` has sent everything. */
  endProducer?(input: number, producer: number): void | Promise<void>;
  /** Every upstream subtask of `input` has sent everything. */
  endInput?(input: number): void | Promise<void>;
  finish?(): void | Promise<void>;
  close?(): void | Promise<void>;
}

/** A source with a lifecycle: `run` emits records until it is done or `context.signal` fires. */
export interface SourceOperator<O> {
  open?(context: SubtaskContext<O>): void | Promise<void>;
  /** Emits through `context.output`, awaiting `flush()` regularly so backpressure applies. */
  run(context: SubtaskContext<O>): Promise<void>;
  close?(): void | Promise<void>;
}

/** Information available when a subtask's operator instance is created. */
export interface SubtaskInfo {
  readonly operatorName: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
}

export type OperatorFactory<I, O> = (info: SubtaskInfo) => StreamOperator<I, O>;
export type SourceFactory<O> = (info: SubtaskInfo) => SourceOperator<O>;
