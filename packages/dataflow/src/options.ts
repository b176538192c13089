import { ConfigError } from '@millrace/core';

/** Options every operator takes. */
export interface OperatorOptions {
  /** Shown in metrics, events and errors. Default: the operator kind, e.g. `map`. */
  name?: string;
  /** Number of subtasks. Default: the job's `parallelism` (1 unless set). */
  parallelism?: number;
}

/** Options of element-wise operators, which can also run on worker threads. */
export interface FunctionOperatorOptions extends OperatorOptions {
  /**
   * `main` (default): subtasks run on the job's thread. `worker`: each subtask runs the function
   * on its own worker thread; the function must then be a {@link FunctionReference}.
   */
  thread?: 'main' | 'worker';
}

export interface MapBatchesOptions extends FunctionOperatorOptions {
  /** Largest batch handed to the function (larger input batches are split). Default: the job's batch size. */
  maxBatchSize?: number;
}

export function checkPositiveInteger(value: unknown, path: string, subject: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError([{ path, message: `must be a positive integer, got ${String(value)}` }], {
      subject,
    });
  }
}
