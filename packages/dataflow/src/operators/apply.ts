import { RecordFailure } from '../errors.js';

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Calls `fn` on every record of a batch and hands each result to `accept`. Synchronous user
 * functions take a tight loop with no promise per record; the first promise a function returns
 * switches the rest of the batch to awaiting (records are still processed one at a time, in
 * order). A throw is wrapped with the record it happened on.
 */
export function applyToBatch<I, R>(
  batch: readonly I[],
  fn: (record: I) => R | Promise<R>,
  accept: (result: R, record: I) => void,
): void | Promise<void> {
  let i = 0;
  try {
    for (; i < batch.length; i++) {
      const record = batch[i]!;
      const result = fn(record);
      if (isPromiseLike(result)) return continueAsync(batch, i, result as Promise<R>, fn, accept);
      accept(result as R, record);
    }
  } catch (error) {
    throw new RecordFailure(batch[i], error);
  }
}

async function continueAsync<I, R>(
  batch: readonly I[],
  start: number,
  first: Promise<R>,
  fn: (record: I) => R | Promise<R>,
  accept: (result: R, record: I) => void,
): Promise<void> {
  let i = start;
  try {
    accept(await first, batch[i]!);
    for (i += 1; i < batch.length; i++) {
      const record = batch[i]!;
      accept(await fn(record), record);
    }
  } catch (error) {
    throw new RecordFailure(batch[i], error);
  }
}
