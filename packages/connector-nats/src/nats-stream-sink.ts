/**
 * A NATS JetStream sink: every record is published to a subject and the batch waits for the
 * stream's PubAcks. At-least-once, like every sink fed by a broker source: a batch published and
 * not yet acknowledged upstream when its host died is published again by whoever processes the
 * redelivered messages. `onWritten` runs once a batch is stored — the place to acknowledge the
 * source entries it came from when no checkpoint covers them.
 */
import { checkOptions } from '@millrace/connector-kit';
import type { DataStream } from '@millrace/dataflow';
import type { NatsConnection } from 'nats';
import { closeNats, connectNats } from './connect.js';

export interface NatsSubjectSinkOptions<T> {
  /** The server(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** The subject to publish to (a JetStream stream must capture it). */
  subject: string | ((record: T) => string);
  /** A record's payload. Default: its JSON (what the source decodes by default). */
  encode?: (record: T) => Uint8Array;
  /** Called with each batch once the stream stored it (e.g. acknowledge the source entries). */
  onWritten?: (records: readonly T[]) => void | Promise<void>;
  /** Bound on connecting to the server. Default 5000. */
  connectTimeoutMs?: number;
  /** Sink subtasks. Default: the job's parallelism. */
  parallelism?: number;
  /** Operator name. Default `nats-sink`. */
  name?: string;
}

export function toNatsSubject<T>(input: DataStream<T>, options: NatsSubjectSinkOptions<T>): void {
  checkOptions('nats subject sink options', [
    { path: 'servers', value: options?.servers, kind: 'string', optional: Array.isArray(options?.servers) },
    {
      path: 'subject',
      value: options?.subject,
      kind: 'string',
      optional: typeof options?.subject === 'function',
    },
    { path: 'connectTimeoutMs', value: options?.connectTimeoutMs, kind: 'positive-integer', optional: true },
  ]);
  const servers = Array.isArray(options.servers) ? options.servers : [options.servers];
  const encoder = new TextEncoder();
  const encode = options.encode ?? ((record: T) => encoder.encode(JSON.stringify(record)));
  const subjectOf = typeof options.subject === 'function' ? options.subject : () => options.subject as string;
  input.transform<never>(
    () => {
      let connection: NatsConnection | undefined;
      return {
        async open() {
          connection = await connectNats(servers, options.connectTimeoutMs ?? 5_000);
        },
        async processBatch(batch) {
          const jetstream = connection!.jetstream();
          try {
            await Promise.all(batch.map((record) => jetstream.publish(subjectOf(record), encode(record))));
          } catch (error) {
            throw new Error(`Publishing to NATS JetStream failed: ${(error as Error).message}`, {
              cause: error,
            });
          }
          await options.onWritten?.(batch);
        },
        async close() {
          await closeNats(connection);
          connection = undefined;
        },
      };
    },
    {
      name: options.name ?? 'nats-sink',
      ...(options.parallelism ? { parallelism: options.parallelism } : {}),
    },
  );
}
