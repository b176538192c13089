/**
 * Event-time tumbling windows over a keyed stream, aggregated incrementally.
 *
 * Semantics (per subtask): a record with timestamp `t` belongs to the window
 * `[floor(t / size) * size, that + size)`. The subtask's watermark is the largest timestamp it
 * has seen minus `allowedLatenessMs`; a window fires (emits one result per key) once the
 * watermark reaches its end, in window-end order. A record whose window has already fired is
 * late: it is dropped and counted in the operator's `lateRecordsDropped` metric. When the input
 * ends, every open window fires. With a single upstream subtask in timestamp order nothing is
 * ever late; when several upstream subtasks interleave, set `allowedLatenessMs` to the skew.
 */
import { RecordFailure } from '../errors.js';
import type { OperatorFactory, Output, SubtaskContext } from '../operator.js';
import type { Key } from '../runtime/hash.js';

export interface WindowInfo<K extends Key> {
  key: K;
  /** Inclusive start, in the timestamps' unit (usually epoch ms). */
  start: number;
  /** Exclusive end. */
  end: number;
}

export interface WindowAggregator<T, A, R, K extends Key> {
  create(): A;
  add(accumulator: A, record: T): A;
  result(accumulator: A, window: WindowInfo<K>): R;
}

export interface TumblingWindowOptions<T> {
  /** Window length (same unit as the timestamps). */
  sizeMs: number;
  /** The record's event time. */
  timestamp: (record: T) => number;
  /** How far behind the newest timestamp a record may arrive and still be counted. Default 0. */
  allowedLatenessMs?: number;
}

export function tumblingWindowOperator<K extends Key, T, A, R>(
  key: (record: T) => K,
  options: TumblingWindowOptions<T>,
  aggregator: WindowAggregator<T, A, R, K>,
): OperatorFactory<T, R> {
  const size = options.sizeMs;
  const lateness = options.allowedLatenessMs ?? 0;
  return () => {
    /** Open windows by end time, each holding one accumulator per key (insertion order). */
    const windows = new Map<number, Map<K, A>>();
    let watermark = Number.NEGATIVE_INFINITY;
    let firedUpTo = Number.NEGATIVE_INFINITY;
    let output: Output<R>;
    let context: SubtaskContext<R>;

    const fire = (upTo: number) => {
      const ends = [...windows.keys()].filter((end) => end <= upTo).sort((a, b) => a - b);
      for (const end of ends) {
        for (const [k, accumulator] of windows.get(end)!) {
          output.emit(aggregator.result(accumulator, { key: k, start: end - size, end }));
        }
        windows.delete(end);
      }
      if (upTo > firedUpTo) firedUpTo = upTo;
    };

    return {
      open(subtask) {
        context = subtask;
        output = subtask.output;
      },
      processBatch(batch) {
        for (const record of batch) {
          let end: number;
          let k: K;
          try {
            const time = options.timestamp(record);
            if (typeof time !== 'number' || !Number.isFinite(time)) {
              throw new TypeError(`the timestamp function returned ${String(time)}, not a finite number`);
            }
            end = Math.floor(time / size) * size + size;
            if (end <= firedUpTo) {
              context.count('lateRecordsDropped');
              continue;
            }
            k = key(record);
            let perKey = windows.get(end);
            if (perKey === undefined) {
              perKey = new Map();
              windows.set(end, perKey);
            }
            const previous = perKey.has(k) ? perKey.get(k)! : aggregator.create();
            perKey.set(k, aggregator.add(previous, record));
            if (time - lateness > watermark) watermark = time - lateness;
          } catch (error) {
            throw new RecordFailure(record, error);
          }
        }
        // Windows whose end the watermark has passed are complete.
        // Windows end on multiples of the size; the last end at or before the watermark is closable.
        const closable = Math.floor(watermark / size) * size;
        if (closable > firedUpTo) fire(closable);
      },
      finish() {
        fire(Number.POSITIVE_INFINITY);
      },
    };
  };
}
