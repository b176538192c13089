/**
 * A NATS JetStream source: every subtask of every host pulls from one durable pull consumer of a
 * stream, so the hosts of a job share the stream's messages (each goes to one puller at a time).
 *
 * Acknowledgement: a message is acked only when `acknowledge([id])` is called (a checkpoint hook,
 * or a sink once it wrote what came of it); `id` is the message's stream sequence. While this
 * host lives it tells the server it is still working on its unacknowledged messages (every
 * `ackWait / 3`), so a slow pipeline does not look dead. When a whole host dies its messages are
 * not acked within the consumer's ack wait, and the server redelivers them to whichever host
 * pulls next; they are emitted with `redelivered: true`. The source holds at most
 * `maxUnacknowledged` messages (then it waits: backpressure).
 *
 * Malformed messages (the decoder throws) are published to the dead-letter subject (with the
 * reason in headers, deduplicated by stream and sequence, so a host dying between publishing and
 * acking cannot dead-letter a message twice within the stream's duplicate window), then acked.
 */
import {
  AcknowledgementLedger,
  BrokerResourceMissingError,
  checkOptions,
  checkpointAcknowledger,
  type EntryAcknowledger,
  MalformedEntryError,
  type SourceEntry,
} from '@millrace/connector-kit';
import type { InputCheckpointListener } from '@millrace/core';
import type { DataStream, Job, SourceOperator, SubtaskContext } from '@millrace/dataflow';
import {
  AckPolicy,
  type Consumer,
  headers as createHeaders,
  DeliverPolicy,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
} from 'nats';
import { closeNats, connectNats, isNotFound } from './connect.js';

export interface NatsStreamSourceOptions<T> {
  /** The server(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** The JetStream stream to read. */
  stream: string;
  /** The durable consumer every host pulls from (create it with `createConsumer` or `nats consumer add`). */
  consumer: string;
  /** Turns a message into a record; throw to reject it (it is dead-lettered). Default: JSON of the payload. */
  decode?: (data: Uint8Array, headers: MsgHdrs | undefined) => T;
  /**
   * Create the durable pull consumer when it is missing (explicit acks, deliver all, the ack
   * wait below). Default false: a missing consumer is a BrokerResourceMissingError.
   */
  createConsumer?: boolean;
  /** Ack wait of a consumer this source creates: how long a dead host's messages wait before redelivery. Default 30000. */
  ackWaitMs?: number;
  /** Messages read and not yet acknowledged, per source and process, before reading waits. Default 10000. */
  maxUnacknowledged?: number;
  /** Messages per pull. Default 256. */
  fetchCount?: number;
  /** How long one pull waits for messages (at least 1000, the client's minimum). Default 1000. */
  fetchExpiresMs?: number;
  /** Where malformed messages go; a stream must capture this subject. Default `<stream>.dead-letter`. */
  deadLetterSubject?: string;
  /** Bound on connecting to the server. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Makes the source bounded: it ends once the consumer has had nothing undelivered and nothing
   * awaiting an ack (on any host) for this long. Default: unbounded (runs until cancelled).
   */
  endWhenDrainedMs?: number;
  /** Source subtasks on this host. Default 1. */
  parallelism?: number;
  /** Operator name. Default `nats-source`. */
  name?: string;
}

/** What one source has done so far on this host (summed over its subtasks). */
export interface NatsStreamSourceStats {
  read: number;
  /** Messages the server had delivered before (to a host that died, or to this one). */
  redelivered: number;
  deadLettered: number;
  acknowledged: number;
}

export function natsStreamSource<T = unknown>(
  job: Job,
  options: NatsStreamSourceOptions<T>,
): NatsStreamSource<T> {
  return new NatsStreamSource(job, options);
}

type Settings<T> = Required<
  Omit<NatsStreamSourceOptions<T>, 'endWhenDrainedMs' | 'parallelism' | 'name' | 'decode' | 'servers'>
> & {
  servers: string[];
  endWhenDrainedMs: number | undefined;
  decode: (data: Uint8Array, headers: MsgHdrs | undefined) => T;
};

interface Held {
  message: JsMsg;
  reader: NatsStreamReader<unknown>;
}

export class NatsStreamSource<T> implements EntryAcknowledger {
  /** The messages, as `{ id, value, redelivered }` (`id` is the stream sequence); carry `id` to where you acknowledge. */
  readonly entries: DataStream<SourceEntry<T>>;
  readonly #ledger: AcknowledgementLedger<Held>;
  readonly #stats: NatsStreamSourceStats = { read: 0, redelivered: 0, deadLettered: 0, acknowledged: 0 };

  constructor(job: Job, options: NatsStreamSourceOptions<T>) {
    checkOptions('nats stream source options', [
      { path: 'servers', value: options?.servers, kind: 'string', optional: Array.isArray(options?.servers) },
      { path: 'stream', value: options?.stream, kind: 'string' },
      { path: 'consumer', value: options?.consumer, kind: 'string' },
      { path: 'ackWaitMs', value: options?.ackWaitMs, kind: 'positive-integer', optional: true },
      {
        path: 'maxUnacknowledged',
        value: options?.maxUnacknowledged,
        kind: 'positive-integer',
        optional: true,
      },
      { path: 'fetchCount', value: options?.fetchCount, kind: 'positive-integer', optional: true },
      {
        path: 'connectTimeoutMs',
        value: options?.connectTimeoutMs,
        kind: 'positive-integer',
        optional: true,
      },
      {
        path: 'endWhenDrainedMs',
        value: options?.endWhenDrainedMs,
        kind: 'non-negative-number',
        optional: true,
      },
      { path: 'deadLetterSubject', value: options?.deadLetterSubject, kind: 'string', optional: true },
    ]);
    if (options.fetchExpiresMs !== undefined && !(options.fetchExpiresMs >= 1_000)) {
      checkOptions('nats stream source options', [
        { path: 'fetchExpiresMs (at least 1000)', value: undefined, kind: 'positive-integer' },
      ]);
    }
    const settings: Settings<T> = {
      servers: Array.isArray(options.servers) ? options.servers : [options.servers],
      stream: options.stream,
      consumer: options.consumer,
      decode: options.decode ?? decodeJson<T>,
      createConsumer: options.createConsumer ?? false,
      ackWaitMs: options.ackWaitMs ?? 30_000,
      maxUnacknowledged: options.maxUnacknowledged ?? 10_000,
      fetchCount: options.fetchCount ?? 256,
      fetchExpiresMs: options.fetchExpiresMs ?? 1_000,
      deadLetterSubject: options.deadLetterSubject ?? `${options.stream}.dead-letter`,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      endWhenDrainedMs: options.endWhenDrainedMs,
    };
    this.#ledger = new AcknowledgementLedger({ capacity: settings.maxUnacknowledged });
    this.entries = job.source<SourceEntry<T>>(
      ({ subtaskIndex }) => new NatsStreamReader(settings, subtaskIndex, this.#ledger, this.#stats),
      { name: options.name ?? 'nats-source', parallelism: options.parallelism ?? 1 },
    );
  }

  /** Counts so far (this process). */
  get stats(): Readonly<NatsStreamSourceStats> {
    return { ...this.#stats };
  }

  /** Messages emitted and not yet acknowledged (this process). */
  get unacknowledged(): number {
    return this.#ledger.size;
  }

  /**
   * An `onInputCheckpoint` listener for the stream-mode role that reads this source: it
   * acknowledges on the broker exactly the entries a runner's acknowledged checkpoint covers, found
   * in the covered records with `entryId` (carry `entry.id` into the records the role receives).
   * Pass it to `addRole(job, role, { input, onInputCheckpoint })`. If acknowledging fails, the
   * source fails the job with the reason. The guarantee: exactly once within a job; across the
   * death of the job's process at-least-once, with a dedup rule (connector-kit's README).
   */
  checkpointListener<R>(entryId: (record: R) => string): InputCheckpointListener {
    return checkpointAcknowledger<R>(this, {
      entryId,
      onFailure: (error) => this.#ledger.fail(error),
    });
  }

  async acknowledge(ids: readonly string[]): Promise<void> {
    const byReader = new Map<NatsStreamReader<unknown>, JsMsg[]>();
    for (const { handle } of this.#ledger.take(ids)) {
      const list = byReader.get(handle.reader) ?? [];
      list.push(handle.message);
      byReader.set(handle.reader, list);
    }
    await Promise.all([...byReader].map(([reader, messages]) => reader.acknowledge(messages)));
  }
}

function decodeJson<T>(data: Uint8Array): T {
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as T;
}

/** One subtask: its own connection, pulling from the shared durable consumer. */
class NatsStreamReader<T> implements SourceOperator<SourceEntry<T>> {
  #connection: NatsConnection | undefined;
  #manager: JetStreamManager | undefined;
  #consumer: Consumer | undefined;
  #context: SubtaskContext<SourceEntry<T>> | undefined;
  /** The consumer's real ack wait (read at open): the heartbeat must beat it. */
  #ackWaitMs = 30_000;

  constructor(
    readonly settings: Settings<T>,
    readonly subtaskIndex: number,
    readonly ledger: AcknowledgementLedger<Held>,
    readonly stats: NatsStreamSourceStats,
  ) {}

  async open(context: SubtaskContext<SourceEntry<T>>): Promise<void> {
    this.#context = context;
    this.#connection = await connectNats(this.settings.servers, this.settings.connectTimeoutMs);
    this.#manager = await this.#connection.jetstreamManager();
    await this.#checkResources(this.#manager);
    this.#consumer = await this.#connection
      .jetstream()
      .consumers.get(this.settings.stream, this.settings.consumer);
    const info = await this.#manager.consumers.info(this.settings.stream, this.settings.consumer);
    this.#ackWaitMs = Math.max(1, Math.floor((info.config.ack_wait ?? 30_000_000_000) / 1_000_000));
  }

  async run(context: SubtaskContext<SourceEntry<T>>): Promise<void> {
    const { fetchCount, fetchExpiresMs, endWhenDrainedMs } = this.settings;
    const signal = context.signal;
    const working = setInterval(() => this.#stillWorking(), Math.max(50, Math.floor(this.#ackWaitMs / 3)));
    let drainedSince: number | undefined;
    try {
      while (!signal.aborted) {
        await this.ledger.waitForRoom(signal);
        const pulled = await this.#consumer!.fetch({
          max_messages: Math.min(fetchCount, this.ledger.room),
          expires: fetchExpiresMs,
        });
        const onAbort = () => pulled.stop();
        signal.addEventListener('abort', onAbort, { once: true });
        // Messages are emitted as they arrive (a pull waits up to fetchExpiresMs for a full batch,
        // which could outlast the ack wait), flushed at least every 20 ms.
        let received = 0;
        let lastFlush = Date.now();
        try {
          for await (const message of pulled) {
            received += 1;
            await this.#emit(message);
            if (Date.now() - lastFlush >= 20) {
              await context.output.flush();
              lastFlush = Date.now();
            }
          }
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
        await context.output.flush();
        if (endWhenDrainedMs === undefined) continue;
        if (received === 0 && this.ledger.size === 0 && (await this.#consumerDrained())) {
          drainedSince ??= Date.now();
          if (Date.now() - drainedSince >= endWhenDrainedMs) return;
        } else {
          drainedSince = undefined;
        }
      }
    } finally {
      clearInterval(working);
    }
  }

  async close(): Promise<void> {
    await closeNats(this.#connection);
    this.#connection = undefined;
  }

  /** Acks messages this reader emitted; resolves once the server has them. */
  async acknowledge(messages: readonly JsMsg[]): Promise<void> {
    const connection = this.#connection;
    if (!connection || connection.isClosed() || messages.length === 0) return;
    for (const message of messages) message.ack();
    await connection.flush();
    this.stats.acknowledged += messages.length;
    this.#context?.count('acknowledged', messages.length);
  }

  /** Extends the ack wait of this reader's unacknowledged messages (a live host is not a dead one). */
  #stillWorking(): void {
    if (!this.#connection || this.#connection.isClosed()) return;
    for (const [, held] of this.ledger.entries()) if (held.reader === this) held.message.working();
  }

  async #consumerDrained(): Promise<boolean> {
    const info = await this.#manager!.consumers.info(this.settings.stream, this.settings.consumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }

  async #emit(message: JsMsg): Promise<void> {
    const context = this.#context!;
    const id = String(message.seq);
    let value: T;
    try {
      value = this.settings.decode(message.data, message.headers);
    } catch (error) {
      await this.#deadLetter(message, (error as Error)?.message ?? String(error));
      return;
    }
    if (this.ledger.has(id)) {
      // Redelivered while this process still holds it (its ack wait ran out): keep the newer
      // delivery, whose ack the server will accept, and do not emit it twice.
      this.ledger.take([id]);
      this.ledger.add(id, { message, reader: this as NatsStreamReader<unknown> });
      return;
    }
    this.ledger.add(id, { message, reader: this as NatsStreamReader<unknown> });
    context.output.emit({ id, value, redelivered: message.redelivered });
    this.stats.read += 1;
    context.count('entriesRead');
    if (message.redelivered) {
      this.stats.redelivered += 1;
      context.count('entriesRedelivered');
    }
  }

  async #deadLetter(message: JsMsg, reason: string): Promise<void> {
    const { stream, deadLetterSubject } = this.settings;
    const error = new MalformedEntryError({ entryId: String(message.seq), reason });
    const headers = createHeaders();
    for (const [key, values] of message.headers ?? []) for (const value of values) headers.append(key, value);
    headers.set('Millrace-Stream', stream);
    headers.set('Millrace-Sequence', String(message.seq));
    headers.set('Millrace-Subject', message.subject);
    headers.set('Millrace-Error', error.message.replace(/[\r\n]+/g, ' '));
    try {
      await this.#connection!.jetstream().publish(deadLetterSubject, message.data, {
        headers,
        msgID: `millrace-dead-letter:${stream}:${message.seq}`,
      });
    } catch (cause) {
      throw new Error(
        `Could not dead-letter malformed message ${message.seq} of stream '${stream}' to '${deadLetterSubject}': ${(cause as Error).message}`,
        { cause },
      );
    }
    message.ack();
    await this.#connection!.flush();
    this.stats.deadLettered += 1;
    this.#context!.count('deadLettered');
  }

  async #checkResources(manager: JetStreamManager): Promise<void> {
    const { stream, consumer, createConsumer, ackWaitMs, deadLetterSubject, maxUnacknowledged } =
      this.settings;
    try {
      await manager.streams.info(stream);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      throw new BrokerResourceMissingError({
        broker: 'nats',
        resource: 'stream',
        resourceName: stream,
        remedy: `create it (nats stream add ${stream} --subjects '...'), or check the name`,
      });
    }
    try {
      await manager.consumers.info(stream, consumer);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      if (!createConsumer) {
        throw new BrokerResourceMissingError({
          broker: 'nats',
          resource: 'consumer',
          resourceName: consumer,
          remedy: `stream '${stream}' has no durable consumer by that name; create a pull consumer with explicit acks (nats consumer add ${stream} ${consumer} --pull --ack explicit), or pass createConsumer: true`,
        });
      }
      try {
        await manager.consumers.add(stream, {
          durable_name: consumer,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: ackWaitMs * 1_000_000,
          max_ack_pending: Math.max(maxUnacknowledged * 4, 1_000),
        });
      } catch (addError) {
        // Another host created it at the same moment: fine if it now exists.
        await manager.consumers.info(stream, consumer).catch(() => {
          throw addError;
        });
      }
    }
    try {
      await manager.streams.find(deadLetterSubject);
    } catch (error) {
      if (!isNotFound(error) && !/no stream matches subject/i.test((error as Error).message)) throw error;
      throw new BrokerResourceMissingError({
        broker: 'nats',
        resource: 'dead-letter stream',
        resourceName: deadLetterSubject,
        remedy: `no stream captures the dead-letter subject; add one (nats stream add ${stream}-dead-letter --subjects '${deadLetterSubject}') or pass deadLetterSubject`,
      });
    }
  }
}
