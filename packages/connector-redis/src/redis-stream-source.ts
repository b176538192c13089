/**
 * A Redis Streams source: subtask i of the source is consumer `<consumer>-<i>` of a consumer
 * group, so every host of a job (each with its own `consumer` name) shares one stream, and an
 * entry goes to one consumer at a time.
 *
 * Acknowledgement: an entry stays in the group's pending list until `acknowledge([id])` is
 * called (by a checkpoint hook, or by a sink once it wrote what came of the entry); only then is
 * it XACKed. While this host lives it keeps its unacknowledged entries fresh (XCLAIM to itself,
 * which resets their idle time), so nobody takes them over. When a whole host dies, its entries
 * go idle; after `claimIdleMs` another host's source takes them (XAUTOCLAIM) and emits them
 * again, marked `redelivered`. A consumer that restarts under the same name first re-reads its
 * own pending entries. The source reads at most `maxUnacknowledged` entries ahead of the
 * acknowledgements (then it waits: backpressure).
 *
 * Malformed entries (the decoder throws) are written to the dead-letter stream together with the
 * reason, and acknowledged in the same MULTI transaction, so each is dead-lettered exactly once
 * and never silently dropped.
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
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from './connect.js';

export interface RedisStreamSourceOptions<T> {
  /** The server, e.g. `redis://127.0.0.1:6379` (ioredis URL syntax: password, database). */
  url: string;
  /** The stream key to read. */
  stream: string;
  /** The consumer group that shares the stream between hosts. */
  group: string;
  /**
   * This host's consumer name; subtask i reads as `<consumer>-<i>`. Give every host its own
   * (a host name, a host index): two live hosts with one name would share a pending list.
   */
  consumer: string;
  /**
   * Turns an entry's fields into a record; throw to reject it (it is dead-lettered). Default:
   * `JSON.parse(fields.data)`.
   */
  decode?: (fields: Readonly<Record<string, string>>) => T;
  /** Create the group (and the stream) when missing, reading from the stream's start. Default false: a missing stream or group is a BrokerResourceMissingError. */
  createGroup?: boolean;
  /** How long another consumer's entry must have been idle before this source claims it (the dead-host timeout). Default 30000. */
  claimIdleMs?: number;
  /** Entries read and not yet acknowledged, per source and process, before reading waits. Default 10000. */
  maxUnacknowledged?: number;
  /** Entries per read. Default 512. */
  readCount?: number;
  /** How long one read blocks waiting for new entries. Default 250. */
  blockMs?: number;
  /** Where malformed entries go. Default `<stream>:dead-letter`. */
  deadLetterStream?: string;
  /** Bound on connecting to the server. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Makes the source bounded: it ends once the stream has had no new entry, and the group no
   * pending entry (of any host), for this long. Default: unbounded (runs until cancelled).
   */
  endWhenDrainedMs?: number;
  /** Source subtasks (consumers) on this host. Default 1. */
  parallelism?: number;
  /** Operator name. Default `redis-source`. */
  name?: string;
}

/** What one source has done so far on this host (summed over its subtasks). */
export interface RedisStreamSourceStats {
  read: number;
  /** Entries taken over from other consumers (XAUTOCLAIM) or re-read from this consumer's own pending list. */
  redelivered: number;
  deadLettered: number;
  acknowledged: number;
}

export function redisStreamSource<T = unknown>(
  job: Job,
  options: RedisStreamSourceOptions<T>,
): RedisStreamSource<T> {
  return new RedisStreamSource(job, options);
}

type Settings<T> = Required<
  Omit<RedisStreamSourceOptions<T>, 'endWhenDrainedMs' | 'parallelism' | 'name' | 'decode'>
> & {
  endWhenDrainedMs: number | undefined;
  decode: (fields: Readonly<Record<string, string>>) => T;
};

export class RedisStreamSource<T> implements EntryAcknowledger {
  /** The entries, as `{ id, value, redelivered }`; carry `id` to where you acknowledge. */
  readonly entries: DataStream<SourceEntry<T>>;
  readonly #settings: Settings<T>;
  readonly #ledger: AcknowledgementLedger<RedisStreamReader<T>>;
  readonly #stats: RedisStreamSourceStats = { read: 0, redelivered: 0, deadLettered: 0, acknowledged: 0 };

  constructor(job: Job, options: RedisStreamSourceOptions<T>) {
    checkOptions('redis stream source options', [
      { path: 'url', value: options?.url, kind: 'string' },
      { path: 'stream', value: options?.stream, kind: 'string' },
      { path: 'group', value: options?.group, kind: 'string' },
      { path: 'consumer', value: options?.consumer, kind: 'string' },
      { path: 'claimIdleMs', value: options?.claimIdleMs, kind: 'positive-integer', optional: true },
      {
        path: 'maxUnacknowledged',
        value: options?.maxUnacknowledged,
        kind: 'positive-integer',
        optional: true,
      },
      { path: 'readCount', value: options?.readCount, kind: 'positive-integer', optional: true },
      { path: 'blockMs', value: options?.blockMs, kind: 'positive-integer', optional: true },
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
      { path: 'deadLetterStream', value: options?.deadLetterStream, kind: 'string', optional: true },
    ]);
    this.#settings = {
      url: options.url,
      stream: options.stream,
      group: options.group,
      consumer: options.consumer,
      decode: options.decode ?? decodeJsonData<T>,
      createGroup: options.createGroup ?? false,
      claimIdleMs: options.claimIdleMs ?? 30_000,
      maxUnacknowledged: options.maxUnacknowledged ?? 10_000,
      readCount: options.readCount ?? 512,
      blockMs: options.blockMs ?? 250,
      deadLetterStream: options.deadLetterStream ?? `${options.stream}:dead-letter`,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      endWhenDrainedMs: options.endWhenDrainedMs,
    };
    this.#ledger = new AcknowledgementLedger({ capacity: this.#settings.maxUnacknowledged });
    this.entries = job.source<SourceEntry<T>>(
      ({ subtaskIndex }) => new RedisStreamReader(this.#settings, subtaskIndex, this.#ledger, this.#stats),
      { name: options.name ?? 'redis-source', parallelism: options.parallelism ?? 1 },
    );
  }

  /** Counts so far (this process). */
  get stats(): Readonly<RedisStreamSourceStats> {
    return { ...this.#stats };
  }

  /** Entries emitted and not yet acknowledged (this process). */
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
    const byReader = new Map<RedisStreamReader<T>, string[]>();
    for (const { id, handle } of this.#ledger.take(ids)) {
      const list = byReader.get(handle) ?? [];
      list.push(id);
      byReader.set(handle, list);
    }
    await Promise.all([...byReader].map(([reader, list]) => reader.acknowledge(list)));
  }
}

/** Reads `{ data: JSON }` entries, the format `toRedisStream` writes by default. */
function decodeJsonData<T>(fields: Readonly<Record<string, string>>): T {
  const data = fields.data;
  if (data === undefined)
    throw new Error(`it has no 'data' field (fields: ${Object.keys(fields).join(', ') || 'none'})`);
  return JSON.parse(data) as T;
}

type RawEntry = [id: string, fields: string[] | null];

/** One subtask: one consumer of the group, with a blocking connection and a command connection. */
class RedisStreamReader<T> implements SourceOperator<SourceEntry<T>> {
  readonly #consumer: string;
  #reader: Redis | undefined;
  #commands: Redis | undefined;
  #context: SubtaskContext<SourceEntry<T>> | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(
    readonly settings: Settings<T>,
    readonly subtaskIndex: number,
    readonly ledger: AcknowledgementLedger<RedisStreamReader<T>>,
    readonly stats: RedisStreamSourceStats,
  ) {
    this.#consumer = `${settings.consumer}-${subtaskIndex}`;
  }

  async open(context: SubtaskContext<SourceEntry<T>>): Promise<void> {
    this.#context = context;
    const { url, connectTimeoutMs } = this.settings;
    this.#commands = await connectRedis(url, connectTimeoutMs);
    this.#reader = await connectRedis(url, connectTimeoutMs);
    await this.#checkGroup(this.#commands);
  }

  async run(context: SubtaskContext<SourceEntry<T>>): Promise<void> {
    const { stream, claimIdleMs, blockMs, readCount, endWhenDrainedMs } = this.settings;
    const reader = this.#reader!;
    const signal = context.signal;
    const refresh = setInterval(
      () => {
        this.#refreshing ??= this.#refreshOwnEntries().finally(() => {
          this.#refreshing = undefined;
        });
      },
      Math.max(50, Math.floor(claimIdleMs / 3)),
    );
    try {
      // Entries this consumer read in an earlier life and never acknowledged come first.
      let cursor = '0';
      while (!signal.aborted) {
        await this.ledger.waitForRoom(signal);
        const entries = await this.#read(reader, ['COUNT', this.ledger.room, 'STREAMS', stream, cursor]);
        if (entries.length === 0) break;
        cursor = entries[entries.length - 1]![0];
        await this.#emit(entries, true);
      }
      const claimEveryMs = Math.max(50, Math.min(Math.floor(claimIdleMs / 2), 5_000));
      let lastClaim = 0;
      let drainedSince: number | undefined;
      while (!signal.aborted) {
        await this.ledger.waitForRoom(signal);
        let claimed = 0;
        if (Date.now() - lastClaim >= claimEveryMs) {
          lastClaim = Date.now();
          claimed = await this.#claimIdle();
        }
        if (signal.aborted) break;
        const count = Math.min(readCount, this.ledger.room);
        const entries =
          count === 0
            ? []
            : await this.#read(reader, ['COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>']);
        await this.#emit(entries, false);
        if (endWhenDrainedMs === undefined) continue;
        if (
          entries.length === 0 &&
          claimed === 0 &&
          this.ledger.size === 0 &&
          (await this.#groupPending()) === 0
        ) {
          drainedSince ??= Date.now();
          if (Date.now() - drainedSince >= endWhenDrainedMs) return;
        } else {
          drainedSince = undefined;
        }
      }
    } finally {
      clearInterval(refresh);
      await this.#refreshing;
    }
  }

  async close(): Promise<void> {
    await Promise.all([closeRedis(this.#reader), closeRedis(this.#commands)]);
    this.#reader = undefined;
    this.#commands = undefined;
  }

  /** XACKs entries this reader emitted. After close, the entries stay pending (redelivered later). */
  async acknowledge(ids: readonly string[]): Promise<void> {
    const commands = this.#commands;
    if (!commands || ids.length === 0) return;
    const { stream, group } = this.settings;
    for (let start = 0; start < ids.length; start += 1_000) {
      const chunk = ids.slice(start, start + 1_000);
      await commands.call('XACK', stream, group, ...chunk);
    }
    this.stats.acknowledged += ids.length;
    this.#context?.count('acknowledged', ids.length);
  }

  async #read(reader: Redis, args: (string | number)[]): Promise<RawEntry[]> {
    const { group } = this.settings;
    const reply = (await reader.call('XREADGROUP', 'GROUP', group, this.#consumer, ...args)) as
      | [string, RawEntry[]][]
      | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Takes over entries other consumers left idle for `claimIdleMs` (a dead host's). */
  async #claimIdle(): Promise<number> {
    const { stream, group, claimIdleMs } = this.settings;
    let cursor = '0-0';
    let claimed = 0;
    do {
      const room = this.ledger.room;
      if (room === 0) break;
      const reply = (await this.#commands!.call(
        'XAUTOCLAIM',
        stream,
        group,
        this.#consumer,
        claimIdleMs,
        cursor,
        'COUNT',
        room,
      )) as [string, RawEntry[], string[]];
      cursor = reply[0];
      // Entries this process still holds were only idle because acknowledging them takes long.
      const taken = reply[1].filter(([id]) => !this.ledger.has(id));
      claimed += taken.length;
      await this.#emit(taken, true);
    } while (cursor !== '0-0');
    return claimed;
  }

  /** Resets the idle time of this consumer's unacknowledged entries, so no live host's entry is claimed. */
  async #refreshOwnEntries(): Promise<void> {
    const commands = this.#commands;
    if (!commands) return;
    const { stream, group } = this.settings;
    const own: string[] = [];
    for (const [id, reader] of this.ledger.entries()) if (reader === this) own.push(id);
    try {
      for (let start = 0; start < own.length; start += 1_000) {
        await commands.call(
          'XCLAIM',
          stream,
          group,
          this.#consumer,
          0,
          ...own.slice(start, start + 1_000),
          'JUSTID',
        );
      }
    } catch {
      // A failed refresh only risks a duplicate delivery (another host may claim these entries);
      // the read loop reports a lost connection.
    }
  }

  async #groupPending(): Promise<number> {
    const { stream, group } = this.settings;
    const summary = (await this.#commands!.call('XPENDING', stream, group)) as [number, ...unknown[]];
    return Number(summary[0]);
  }

  async #emit(entries: readonly RawEntry[], redelivered: boolean): Promise<void> {
    if (entries.length === 0) return;
    const context = this.#context!;
    const malformed: { id: string; fields: Record<string, string>; reason: string }[] = [];
    const deleted: string[] = [];
    let emitted = 0;
    for (const [id, raw] of entries) {
      if (raw === null) {
        deleted.push(id); // trimmed or deleted from the stream after it was delivered: nothing to process
        continue;
      }
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < raw.length; i += 2) fields[raw[i]!] = raw[i + 1]!;
      let value: T;
      try {
        value = this.settings.decode(fields);
      } catch (error) {
        malformed.push({ id, fields, reason: (error as Error)?.message ?? String(error) });
        continue;
      }
      this.ledger.add(id, this);
      context.output.emit({ id, value, redelivered });
      emitted += 1;
    }
    this.stats.read += emitted;
    if (redelivered) this.stats.redelivered += emitted;
    context.count('entriesRead', emitted);
    if (redelivered) context.count('entriesRedelivered', emitted);
    if (deleted.length > 0)
      await this.#commands!.call('XACK', this.settings.stream, this.settings.group, ...deleted);
    if (malformed.length > 0) await this.#deadLetter(malformed);
    await context.output.flush();
  }

  async #deadLetter(
    entries: readonly { id: string; fields: Record<string, string>; reason: string }[],
  ): Promise<void> {
    const { stream, group, deadLetterStream } = this.settings;
    const transaction = this.#commands!.multi();
    for (const entry of entries) {
      const error = new MalformedEntryError({ entryId: entry.id, reason: entry.reason });
      transaction.xadd(
        deadLetterStream,
        '*',
        'stream',
        stream,
        'group',
        group,
        'id',
        entry.id,
        'error',
        error.message,
        'fields',
        JSON.stringify(entry.fields),
      );
    }
    transaction.xack(stream, group, ...entries.map((entry) => entry.id));
    const results = await transaction.exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (!results || failed) {
      throw new Error(
        `Could not dead-letter ${entries.length} malformed entries of '${stream}' into '${deadLetterStream}': ${failed?.message ?? 'transaction aborted'}`,
      );
    }
    this.stats.deadLettered += entries.length;
    this.#context!.count('deadLettered', entries.length);
  }

  async #checkGroup(commands: Redis): Promise<void> {
    const { stream, group, createGroup } = this.settings;
    let groups: unknown[][];
    try {
      groups = (await commands.call('XINFO', 'GROUPS', stream)) as unknown[][];
    } catch (error) {
      if (!/no such key/i.test((error as Error).message)) throw error;
      if (createGroup) return this.#createGroup(commands);
      throw new BrokerResourceMissingError({
        broker: 'redis',
        resource: 'stream',
        resourceName: stream,
        remedy: `create it with its consumer group (XGROUP CREATE ${stream} ${group} 0 MKSTREAM), or pass createGroup: true`,
      });
    }
    const names = groups.map((fields) => fields[fields.indexOf('name') + 1]);
    if (names.includes(group)) return;
    if (createGroup) return this.#createGroup(commands);
    throw new BrokerResourceMissingError({
      broker: 'redis',
      resource: 'group',
      resourceName: group,
      remedy: `stream '${stream}' has ${names.length ? `groups ${names.join(', ')}` : 'no groups'}; create it (XGROUP CREATE ${stream} ${group} 0) or pass createGroup: true`,
    });
  }

  async #createGroup(commands: Redis): Promise<void> {
    const { stream, group } = this.settings;
    try {
      await commands.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!/BUSYGROUP/.test((error as Error).message)) throw error; // another host created it first
    }
  }
}
