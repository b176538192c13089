import {
  BrokerResourceMissingError,
  BrokerUnreachableError,
  type SourceEntry,
} from '@millrace/connector-kit';
import { freePort } from '@millrace/connector-kit/testing';
import { Job } from '@millrace/dataflow';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toRedisStream } from './redis-stream-sink.js';
import { redisStreamSource } from './redis-stream-source.js';
import { type RedisServer, startRedisServer } from './testing/redis-server.js';

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

async function readStream(key: string): Promise<Record<string, string>[]> {
  const entries = (await redis.xrange(key, '-', '+')) as [string, string[]][];
  return entries.map(([, fields]) => {
    const record: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
    return record;
  });
}

describe('Redis Streams source and sink', () => {
  it('round-trips records: sink → stream → source → sink, every entry acknowledged once written', async () => {
    const count = 3_000;
    const writer = new Job({ name: 'write', batchSize: 200 });
    toRedisStream(writer.fromIterable(Array.from({ length: count }, (_, id) => ({ id }))), {
      url: server.url,
      stream: 'round-in',
    });
    await writer.execute();
    expect(await redis.xlen('round-in')).toBe(count);

    const copier = new Job({ name: 'copy', batchSize: 200 });
    const source = redisStreamSource<{ id: number }>(copier, {
      url: server.url,
      stream: 'round-in',
      group: 'copiers',
      consumer: 'host-a',
      createGroup: true,
      endWhenDrainedMs: 200,
    });
    toRedisStream(source.entries, {
      url: server.url,
      stream: 'round-out',
      encode: (entry) => ({ id: String(entry.value.id), from: entry.id }),
      onWritten: (entries) => source.acknowledge(entries.map((entry) => entry.id)),
    });
    const result = await copier.execute();
    expect(result.status).toBe('finished');
    const copied = await readStream('round-out');
    expect(copied.map((record) => Number(record.id))).toEqual(Array.from({ length: count }, (_, id) => id));
    expect(source.stats).toEqual({ read: count, redelivered: 0, deadLettered: 0, acknowledged: count });
    expect(((await redis.xpending('round-in', 'copiers')) as [number])[0]).toBe(0);
  });

  it('dead-letters malformed entries with the reason, acknowledges them, and passes the rest', async () => {
    await redis.xadd('mixed', '*', 'data', JSON.stringify({ id: 0 }));
    const notJson = await redis.xadd('mixed', '*', 'data', '{not json');
    await redis.xadd('mixed', '*', 'data', JSON.stringify({ id: 1 }));
    const noData = await redis.xadd('mixed', '*', 'payload', 'x');
    await redis.xadd('mixed', '*', 'data', JSON.stringify({ id: 2 }));

    const job = new Job({ name: 'mixed' });
    const source = redisStreamSource<{ id: number }>(job, {
      url: server.url,
      stream: 'mixed',
      group: 'g',
      consumer: 'c',
      createGroup: true,
      endWhenDrainedMs: 100,
    });
    const seen: number[] = [];
    source.entries.forEach(async (entry) => {
      seen.push(entry.value.id);
      await source.acknowledge([entry.id]);
    });
    await job.execute();
    expect(seen).toEqual([0, 1, 2]);
    const dead = await readStream('mixed:dead-letter');
    expect(dead.map((record) => record.id)).toEqual([notJson, noData]);
    expect(dead[0]!.error).toMatch(new RegExp(`Entry ${notJson} is malformed: .*JSON`));
    expect(dead[1]!.error).toContain("no 'data' field (fields: payload)");
    expect(JSON.parse(dead[1]!.fields!)).toEqual({ payload: 'x' });
    expect(source.stats.deadLettered).toBe(2);
    expect(((await redis.xpending('mixed', 'g')) as [number])[0]).toBe(0);
  });

  it('names a missing stream, a missing group and an unreachable server', async () => {
    const missingStream = new Job();
    redisStreamSource(missingStream, {
      url: server.url,
      stream: 'nope',
      group: 'g',
      consumer: 'c',
    }).entries.collect();
    const streamError = await missingStream.execute().catch((error) => error);
    expect(BrokerResourceMissingError.isInstance(streamError)).toBe(true);
    expect(streamError.message).toContain("The redis stream 'nope' does not exist");
    expect(streamError.message).toContain('createGroup: true');

    await redis.xgroup('CREATE', 'has-other-group', 'other', '0', 'MKSTREAM');
    const missingGroup = new Job();
    redisStreamSource(missingGroup, {
      url: server.url,
      stream: 'has-other-group',
      group: 'mine',
      consumer: 'c',
    }).entries.collect();
    const groupError = await missingGroup.execute().catch((error) => error);
    expect(groupError).toMatchObject({ resource: 'group', resourceName: 'mine' });
    expect(groupError.message).toContain('has groups other');

    const unreachable = new Job();
    const url = `redis://127.0.0.1:${await freePort()}`;
    redisStreamSource(unreachable, {
      url,
      stream: 's',
      group: 'g',
      consumer: 'c',
      connectTimeoutMs: 500,
    }).entries.collect();
    const started = Date.now();
    const connectError = await unreachable.execute().catch((error) => error);
    expect(BrokerUnreachableError.isInstance(connectError)).toBe(true);
    expect(connectError.message).toContain(`Cannot reach redis at ${url}`);
    expect(Date.now() - started).toBeLessThan(5_000);

    expect(() =>
      redisStreamSource(new Job(), {
        url: server.url,
        stream: '',
        group: 'g',
        consumer: 'c',
        claimIdleMs: 0,
      }),
    ).toThrow(/stream: must be a non-empty string[\s\S]*claimIdleMs: must be a positive integer/);
  });

  it('reads no further than maxUnacknowledged ahead, and another consumer claims what a stopped one left pending', async () => {
    for (let id = 0; id < 30; id++) await redis.xadd('claim', '*', 'data', JSON.stringify({ id }));
    // Consumer "gone" reads and never acknowledges: it holds exactly maxUnacknowledged entries.
    const first = new Job({ name: 'gone' });
    const gone = redisStreamSource<{ id: number }>(first, {
      url: server.url,
      stream: 'claim',
      group: 'g',
      consumer: 'gone',
      createGroup: true,
      maxUnacknowledged: 10,
      claimIdleMs: 60_000,
    });
    const held: SourceEntry<{ id: number }>[] = [];
    gone.entries.forEach((entry) => {
      held.push(entry);
    });
    const running = first.execute();
    await expect.poll(() => held.length).toBe(10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(held.length).toBe(10); // waits for acknowledgements instead of reading on
    first.cancel('the host went away');
    await running;
    expect(((await redis.xpending('claim', 'g')) as [number])[0]).toBe(10);

    // Consumer "survivor" gets the 20 unread entries and, once idle long enough, the 10 pending ones.
    const second = new Job({ name: 'survivor' });
    const survivor = redisStreamSource<{ id: number }>(second, {
      url: server.url,
      stream: 'claim',
      group: 'g',
      consumer: 'survivor',
      claimIdleMs: 300,
      endWhenDrainedMs: 200,
    });
    const received: SourceEntry<{ id: number }>[] = [];
    survivor.entries.forEach(async (entry) => {
      received.push(entry);
      await survivor.acknowledge([entry.id]);
    });
    await second.execute();
    expect(received.map((entry) => entry.value.id).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, id) => id),
    );
    expect(received.filter((entry) => entry.redelivered).map((entry) => entry.id)).toEqual(
      held.map((entry) => entry.id),
    );
    expect(survivor.stats.redelivered).toBe(10);
    expect(((await redis.xpending('claim', 'g')) as [number])[0]).toBe(0);
  });
});
