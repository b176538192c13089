/**
 * Event-time tumbling windows over a keyed stream, aggregated incrementally.
 *
 * Semantics (per subtask): a record with timestamp `t` belongs to the window
 * `[floor(t / size) * size, that + size)`. Each upstream subtask (producer) has its own
 * watermark: the largest timestamp it has sent minus `allowedLatenessMs` (+∞ once it ended). The
 * subtask's watermark is the smallest of them, so parallel upstream subtasks running at different
 * speeds never make each other's records late. A window fires (one result per key, windows in
 * end-time order, keys in first-seen order) once that watermark reaches its end. A record whose
 * window already fired — out of order by more than `allowedLatenessMs` within its producer — is
 * late: dropped and counted in the operator's `lateRecordsDropped` metric. When the input ends,
 * every open window fires. In an unbounded job an upstream subtask that sends nothing holds
 * windows open (as in Flink without idleness detection).
 */
import { RecordFailure } from '../errors.js';
import type { OperatorFactory, Output, SubtaskContext } from '../operator.js';
import { checkKey, type Key } from '../runtime/hash.js';

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
    /** Per producer: the largest timestamp it sent (+∞ once it ended). */
    let producerTimes: number[] = [];
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

    const fireClosable = () => {
      let watermark = Number.POSITIVE_INFINITY;
      for (const time of producerTimes) if (time < watermark) watermark = time;
      if (watermark === Number.POSITIVE_INFINITY) return; // every producer ended: finish() fires the rest
      // Windows end on multiples of the size; the last end at or before the watermark is closable.
      const closable = Math.floor((watermark - lateness) / size) * size;
      if (closable > firedUpTo) fire(closable);
    };

    return {
      open(subtask) {
        context = subtask;
        output = subtask.output;
        producerTimes = new Array(subtask.inputParallelism[0] ?? 1).fill(Number.NEGATIVE_INFINITY);
      },
      endProducer(_input, producer) {
        producerTimes[producer] = Number.POSITIVE_INFINITY;
        fireClosable();
      },
      processBatch(batch, _input, producer) {
        let newest = producerTimes[producer] ?? Number.NEGATIVE_INFINITY;
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
            k = checkKey(key(record));
            let perKey = windows.get(end);
            if (perKey === undefined) {
              perKey = new Map();
              windows.set(end, perKey);
            }
            const previous = perKey.has(k) ? perKey.get(k)! : aggregator.create();
            perKey.set(k, aggregator.add(previous, record));
            if (time > newest) newest = time;
          } catch (error) {
            throw new RecordFailure(record, error);
          }
        }
        // Windows whose end the watermark has passed are complete.
        producerTimes[producer] = newest;
        fireClosable();
      },
      finish() {
        fire(Number.POSITIVE_INFINITY);
      },
    };
  };
}
