/**
 * A Redis Streams sink: every record becomes one XADD to a stream (a pipeline per batch). The
 * sink is at-least-once: a batch written and not yet acknowledged upstream when its host died is
 * written again by whoever processes the redelivered entries. `onWritten` runs after a batch is
 * on the server — the place to acknowledge the source entries it came from when no checkpoint
 * covers them.
 */
import { checkOptions } from '@millrace/connector-kit';
import type { DataStream } from '@millrace/dataflow';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from './connect.js';

export interface RedisStreamSinkOptions<T> {
  /** The server, e.g. `redis://127.0.0.1:6379`. */
  url: string;
  /** The stream key to append to. */
  stream: string;
  /** A record's fields. Default `{ data: JSON.stringify(record) }` (what the source decodes by default). */
  encode?: (record: T) => Readonly<Record<string, string>>;
  /** Trims the stream to about this many entries (XADD MAXLEN ~). Default: no trimming. */
  maxLength?: number;
  /** Called with each batch once Redis accepted it (e.g. acknowledge the source entries). */
  onWritten?: (records: readonly T[]) => void | Promise<void>;
  /** Bound on connecting to the server. Default 5000. */
  connectTimeoutMs?: number;
  /** Sink subtasks. Default: the job's parallelism. */
  parallelism?: number;
  /** Operator name. Default `redis-sink`. */
  name?: string;
}

export function toRedisStream<T>(input: DataStream<T>, options: RedisStreamSinkOptions<T>): void {
  checkOptions('redis stream sink options', [
    { path: 'url', value: options?.url, kind: 'string' },
    { path: 'stream', value: options?.stream, kind: 'string' },
    { path: 'maxLength', value: options?.maxLength, kind: 'positive-integer', optional: true },
    { path: 'connectTimeoutMs', value: options?.connectTimeoutMs, kind: 'positive-integer', optional: true },
  ]);
  const encode = options.encode ?? ((record: T) => ({ data: JSON.stringify(record) }));
  const trim = options.maxLength === undefined ? [] : ['MAXLEN', '~', String(options.maxLength)];
  input.transform<never>(
    () => {
      let redis: Redis | undefined;
      return {
        async open() {
          redis = await connectRedis(options.url, options.connectTimeoutMs ?? 5_000);
        },
        async processBatch(batch) {
          const pipeline = redis!.pipeline();
          for (const record of batch) {
            const fields = Object.entries(encode(record)).flat();
            pipeline.xadd(options.stream, ...(trim as []), '*', ...fields);
          }
          const results = await pipeline.exec();
          const failed = results?.find(([error]) => error !== null)?.[0];
          if (!results || failed) {
            throw new Error(
              `Writing to Redis stream '${options.stream}' failed: ${failed?.message ?? 'no reply'}`,
            );
          }
          await options.onWritten?.(batch);
        },
        async close() {
          await closeRedis(redis);
          redis = undefined;
        },
      };
    },
    {
      name: options.name ?? 'redis-sink',
      ...(options.parallelism ? { parallelism: options.parallelism } : {}),
    },
  );
}
