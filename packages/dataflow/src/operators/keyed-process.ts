/**
 * A process function over a keyed stream with per-key state. Each subtask holds the state of the
 * keys hashed to it; records of one key are processed in arrival order, one at a time.
 */
import { RecordFailure } from '../errors.js';
import type { OperatorFactory, Output } from '../operator.js';
import { checkKey, type Key } from '../runtime/hash.js';

/** The state of the current key. */
export interface KeyedState<S> {
  /** The key's state, or `undefined` when none was set (or it was cleared). */
  get(): S | undefined;
  set(value: S): void;
  clear(): void;
}

export interface KeyedProcessContext<K extends Key, S, R> {
  readonly key: K;
  readonly state: KeyedState<S>;
  emit(record: R): void;
}

export interface KeyedProcessFinishContext<K extends Key, S, R> {
  /** Every key this subtask holds state for, with its state. */
  entries(): IterableIterator<[K, S]>;
  emit(record: R): void;
}

export interface KeyedProcessFunction<K extends Key, T, S, R> {
  /** Called for each record; may be async (the next record of the subtask waits for it). */
  processElement(record: T, context: KeyedProcessContext<K, S, R>): void | Promise<void>;
  /** Called once when the input has ended (bounded jobs): emit final results from state. */
  onEnd?(context: KeyedProcessFinishContext<K, S, R>): void | Promise<void>;
}

export function keyedProcessOperator<K extends Key, T, S, R>(
  key: (record: T) => K,
  fn: KeyedProcessFunction<K, T, S, R>,
): OperatorFactory<T, R> {
  return () => {
    const states = new Map<K, S>();
    let output: Output<R>;
    let currentKey: K;
    const state: KeyedState<S> = {
      get: () => states.get(currentKey),
      set: (value) => {
        states.set(currentKey, value);
      },
      clear: () => {
        states.delete(currentKey);
      },
    };
    const context = {
      get key() {
        return currentKey;
      },
      state,
      emit: (record: R) => output.emit(record),
    } as KeyedProcessContext<K, S, R>;
    return {
      open(subtask) {
        output = subtask.output;
      },
      async processBatch(batch) {
        for (const record of batch) {
          try {
            currentKey = checkKey(key(record));
            const pending = fn.processElement(record, context);
            if (pending !== undefined) await pending;
          } catch (error) {
            throw new RecordFailure(record, error);
          }
        }
      },
      async finish() {
        await fn.onEnd?.({ entries: () => states.entries(), emit: (record) => output.emit(record) });
      },
    };
  };
}
