/**
 * Sinks: operators that consume records and emit nothing. Each is an ordinary operator, so it
 * has metrics and backpressure like any other (a slow sink slows its sources).
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { RecordFailure } from '../errors.js';
import type { OperatorFactory } from '../operator.js';
import { applyToBatch } from '../operators/apply.js';
import { formatCsvLine } from '../sources/csv.js';

/** Records a `collect()` sink gathered; read `records` after the job finished. */
export class CollectedRecords<T> {
  #records: T[] = [];
  /** Gathered records. With sink parallelism 1 they are in arrival order. */
  get records(): readonly T[] {
    return this.#records;
  }
  /** @internal */
  add(records: readonly T[]): void {
    for (const record of records) this.#records.push(record);
  }
  /** @internal A restarted job collects from scratch. */
  reset(): void {
    this.#records = [];
  }
}

export function collectOperator<T>(target: CollectedRecords<T>): OperatorFactory<T, never> {
  return () => ({
    processBatch(batch) {
      target.add(batch);
    },
  });
}

/** Calls `callback` for each record; an async callback is awaited before the next record. */
export function callbackOperator<T>(
  callback: (record: T) => void | Promise<void>,
): OperatorFactory<T, never> {
  return () => ({
    processBatch(batch) {
      return applyToBatch(batch, callback, noop);
    },
  });
}

function noop(): void {}

export interface FileSinkOptions<T> {
  /** `jsonl` (one JSON value per line, the default) or `csv` (a header line, then one row per record). */
  format?: 'jsonl' | 'csv';
  /** For CSV: the columns, in order (default: the keys of the first record). */
  columns?: readonly (keyof T & string)[];
}

export function fileSinkOperator<T>(path: string, options: FileSinkOptions<T>): OperatorFactory<T, never> {
  const format = options.format ?? 'jsonl';
  return () => {
    let stream: WriteStream | undefined;
    let columns = options.columns as readonly string[] | undefined;
    const write = async (text: string) => {
      if (!stream!.write(text)) await once(stream!, 'drain');
    };
    return {
      async open() {
        stream = createWriteStream(path, { flags: 'w' });
        await once(stream, 'open');
        if (format === 'csv' && columns !== undefined) await write(`${formatCsvLine(columns)}\n`);
      },
      async processBatch(batch) {
        let text = '';
        for (const record of batch) {
          try {
            if (format === 'jsonl') text += `${JSON.stringify(record)}\n`;
            else {
              if (columns === undefined) {
                columns = Object.keys(record as object);
                text += `${formatCsvLine(columns)}\n`;
              }
              const row = record as Record<string, unknown>;
              text += `${formatCsvLine(columns.map((column) => row[column]))}\n`;
            }
          } catch (error) {
            throw new RecordFailure(record, error);
          }
        }
        await write(text);
      },
      async close() {
        const s = stream;
        stream = undefined;
        if (s && !s.destroyed) {
          s.end();
          await once(s, 'close');
        }
      },
    };
  };
}

/** Writes each record on its own line to stdout (strings as they are, others as JSON). */
export function printOperator<T>(prefix: string | undefined): OperatorFactory<T, never> {
  return () => ({
    async processBatch(batch) {
      let text = '';
      for (const record of batch) {
        const line = typeof record === 'string' ? record : JSON.stringify(record);
        text += prefix ? `${prefix}${line}\n` : `${line}\n`;
      }
      // A slow terminal or pipe pushes back like any other sink.
      if (!process.stdout.write(text)) await once(process.stdout, 'drain');
    },
  });
}
