/**
 * map, flatMap, filter and mapBatches on the subtask's own thread. The user function may be a
 * value or a {@link FunctionReference} (imported once per subtask in `open`).
 */

import { RecordFailure } from '../errors.js';
import { type FunctionReference, isFunctionReference, loadFunction } from '../function-reference.js';
import type { OperatorFactory, Output } from '../operator.js';
import { applyToBatch } from './apply.js';

export type ElementWiseKind = 'map' | 'flatMap' | 'filter' | 'mapBatches';

// biome-ignore lint/suspicious/noExplicitAny: the four kinds take differently typed functions.
type AnyFunction = (value: any) => any;

/** Runs one kind of element-wise function over a batch, emitting into `output`. */
export function processWith(
  kind: ElementWiseKind,
  fn: AnyFunction,
  batch: readonly unknown[],
  output: Output<unknown>,
  maxBatch: number,
): void | Promise<void> {
  switch (kind) {
    case 'map':
      return applyToBatch(batch, fn, (result) => output.emit(result));
    case 'filter':
      return applyToBatch(batch, fn, (keep, record) => {
        if (keep) output.emit(record);
      });
    case 'flatMap':
      return applyToBatch(batch, fn, (results: Iterable<unknown>) => {
        for (const result of results) output.emit(result);
      });
    case 'mapBatches':
      return mapBatches(fn, batch, output, maxBatch);
  }
}

async function mapBatches(
  fn: AnyFunction,
  batch: readonly unknown[],
  output: Output<unknown>,
  maxBatch: number,
): Promise<void> {
  for (let start = 0; start < batch.length; start += maxBatch) {
    const slice = start === 0 && batch.length <= maxBatch ? batch : batch.slice(start, start + maxBatch);
    let results: unknown;
    try {
      results = await fn(slice);
    } catch (error) {
      throw new RecordFailure(slice.length === 1 ? slice[0] : slice, error);
    }
    if (!Array.isArray(results)) {
      throw new TypeError(
        `mapBatches function must return an array (or a promise of one), got ${typeof results}`,
      );
    }
    output.emitAll(results);
  }
}

export function elementWiseOperator(
  kind: ElementWiseKind,
  fn: AnyFunction | FunctionReference,
  maxBatch: number,
): OperatorFactory<unknown, unknown> {
  return () => {
    let output: Output<unknown>;
    let resolved: AnyFunction | undefined = isFunctionReference(fn) ? undefined : fn;
    return {
      async open(context) {
        output = context.output;
        if (resolved === undefined) resolved = await loadFunction<AnyFunction>(fn as FunctionReference);
      },
      processBatch(batch) {
        return processWith(kind, resolved!, batch, output, maxBatch);
      },
    };
  };
}
