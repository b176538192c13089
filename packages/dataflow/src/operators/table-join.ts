/**
 * A keyed stream–table join. The right input is a changelog: each of its records upserts the
 * table row of its key (the latest record wins). Each left record is joined with the row its key
 * has when the left record is processed, so a later profile update affects only later clicks.
 *
 * A left record whose key has no row yet waits (per subtask, at most `maxWaiting` records) until
 * a row for its key arrives — then it joins with that row — or until the table input ends: then
 * it is emitted unmatched (`left` join) or dropped (`inner`). Waiting records of one key are
 * released in arrival order. When more than `maxWaiting` records wait, the oldest is released
 * unmatched early and counted in `joinReleasedUnmatched`.
 */
import { RecordFailure } from '../errors.js';
import type { OperatorFactory, Output, SubtaskContext } from '../operator.js';
import { checkKey, type Key } from '../runtime/hash.js';

export interface TableJoinOptions {
  /** `inner` drops left records without a row; `left` emits them with `undefined`. Default `inner`. */
  type?: 'inner' | 'left';
  /** Left records that may wait for their row, per subtask. Default 100 000. */
  maxWaiting?: number;
}

export type TableJoiner<L, Rt, O> = (left: L, row: Rt | undefined) => O;

export function tableJoinOperator<K extends Key, L, Rt, O>(
  leftKey: (record: L) => K,
  rightKey: (record: Rt) => K,
  joiner: TableJoiner<L, Rt, O>,
  options: TableJoinOptions,
): OperatorFactory<unknown, O> {
  const keepUnmatched = options.type === 'left';
  const maxWaiting = options.maxWaiting ?? 100_000;
  return () => {
    const table = new Map<K, Rt>();
    const waiting = new Map<K, L[]>();
    let waitingCount = 0;
    let tableEnded = false;
    let output: Output<O>;
    let context: SubtaskContext<O>;

    const join = (left: L, row: Rt | undefined) => {
      try {
        output.emit(joiner(left, row));
      } catch (error) {
        throw new RecordFailure(left, error);
      }
    };
    const releaseUnmatched = (left: L) => {
      if (keepUnmatched) join(left, undefined);
      else context.count('joinDroppedUnmatched');
    };
    const releaseOldest = () => {
      const [k, list] = waiting.entries().next().value as [K, L[]];
      const left = list.shift()!;
      if (list.length === 0) waiting.delete(k);
      waitingCount -= 1;
      context.count('joinReleasedUnmatched');
      releaseUnmatched(left);
    };

    return {
      open(subtask) {
        context = subtask;
        output = subtask.output;
      },
      processBatch(batch, input) {
        if (input === 1) {
          for (const row of batch as Rt[]) {
            let k: K;
            try {
              k = checkKey(rightKey(row));
            } catch (error) {
              throw new RecordFailure(row, error);
            }
            table.set(k, row);
            const held = waiting.get(k);
            if (held !== undefined) {
              waiting.delete(k);
              waitingCount -= held.length;
              for (const left of held) join(left, row);
            }
          }
          return;
        }
        for (const left of batch as L[]) {
          let k: K;
          try {
            k = checkKey(leftKey(left));
          } catch (error) {
            throw new RecordFailure(left, error);
          }
          const row = table.get(k);
          if (row !== undefined || tableEnded) {
            if (row !== undefined) join(left, row);
            else releaseUnmatched(left);
            continue;
          }
          const held = waiting.get(k);
          if (held) held.push(left);
          else waiting.set(k, [left]);
          waitingCount += 1;
          if (waitingCount > maxWaiting) releaseOldest();
        }
      },
      endInput(input) {
        if (input !== 1) return;
        tableEnded = true;
        for (const list of waiting.values()) for (const left of list) releaseUnmatched(left);
        waiting.clear();
        waitingCount = 0;
      },
    };
  };
}
