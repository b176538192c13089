/** Two inputs of possibly different types, processed by one function pair with shared state. */
import type { OperatorFactory, Output } from '../operator.js';
import { applyToBatch } from './apply.js';

export interface CoProcessFunction<A, B, R> {
  /** A record of the first (left) stream. May be async. */
  processLeft(record: A, output: Output<R>): void | Promise<void>;
  /** A record of the second (right) stream. May be async. */
  processRight(record: B, output: Output<R>): void | Promise<void>;
  /** Both inputs ended (bounded jobs). */
  onEnd?(output: Output<R>): void | Promise<void>;
}

/** `create` runs once per subtask, so state kept in its closure is per subtask. */
export function coProcessOperator<A, B, R>(
  create: () => CoProcessFunction<A, B, R>,
): OperatorFactory<unknown, R> {
  return () => {
    const fn = create();
    let output: Output<R>;
    return {
      open(subtask) {
        output = subtask.output;
      },
      processBatch(batch, input) {
        return input === 0
          ? applyToBatch(batch as A[], (record) => fn.processLeft(record, output), noop)
          : applyToBatch(batch as B[], (record) => fn.processRight(record, output), noop);
      },
      async finish() {
        await fn.onEnd?.(output);
      },
    };
  };
}

function noop(): void {}

/** Forwards every input unchanged (union). */
export function passThroughOperator(): OperatorFactory<unknown, unknown> {
  return () => {
    let output: Output<unknown>;
    return {
      open(subtask) {
        output = subtask.output;
      },
      processBatch(batch) {
        output.emitAll(batch);
      },
    };
  };
}
