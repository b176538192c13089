/**
 * A generated stream for tests and demos: `create(index)` for index 0, 1, 2 … (up to `count`, or
 * forever), optionally limited to `ratePerSecond`. With parallelism p, subtask s makes the
 * indices s, s + p, s + 2p … and gets 1/p of the rate. On N hosts, host h makes the indices
 * h, h + N, h + 2N … (index i belongs to host i mod N) and its subtask s of p the indices
 * h + N·s, h + N·(s + p) …; the rate is then the whole job's, over all hosts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expectedRecordsCounter } from '@millrace/core';
import { RecordFailure } from '../errors.js';
import { type JobHosts, oneHost } from '../hosts.js';
import type { SourceFactory } from '../operator.js';

export interface GeneratorOptions {
  /** How many records in total; omit for an unbounded stream (runs until cancelled). */
  count?: number;
  /** Upper bound on records per second over all subtasks; omit for as fast as downstream takes. */
  ratePerSecond?: number;
}

export function generatorSource<T>(
  create: (index: number) => T,
  options: GeneratorOptions,
  batchSize: number,
  hosts: JobHosts = oneHost,
): SourceFactory<T> {
  const count = options.count ?? Number.POSITIVE_INFINITY;
  return ({ subtaskIndex, parallelism }) => ({
    async run(context) {
      const { output, signal } = context;
      const rate =
        options.ratePerSecond === undefined ? undefined : options.ratePerSecond / (parallelism * hosts.count);
      const step = parallelism * hosts.count;
      const started = performance.now();
      let emitted = 0;
      let index = hosts.index + hosts.count * subtaskIndex;
      if (Number.isFinite(count))
        context.count(expectedRecordsCounter, Math.max(0, Math.ceil((count - index) / step)));
      while (index < count && !signal.aborted) {
        let allowed = batchSize;
        if (rate !== undefined) {
          const due = Math.floor(((performance.now() - started) / 1000) * rate) + 1 - emitted;
          if (due <= 0) {
            const wait = Math.max(1, ((emitted + 1) / rate) * 1000 - (performance.now() - started));
            await sleep(wait, undefined, { signal }).catch(() => {});
            continue;
          }
          allowed = Math.min(batchSize, due);
        }
        for (let n = 0; n < allowed && index < count; n++) {
          let record: T;
          try {
            record = create(index);
          } catch (error) {
            throw new RecordFailure(`index ${index}`, error);
          }
          output.emit(record);
          index += step;
          emitted += 1;
        }
        await output.flush();
      }
    },
  });
}
