import {
  BrokerResourceMissingError,
  BrokerUnreachableError,
  type SourceEntry,
} from '@millrace/connector-kit';
import { freePort } from '@millrace/connector-kit/testing';
import { Job } from '@millrace/dataflow';
import { AckPolicy, connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNatsSubject } from './nats-stream-sink.js';
import { natsStreamSource } from './nats-stream-source.js';
import { type NatsServer, startNatsServer } from './testing/nats-server.js';

let server: NatsServer;
let connection: NatsConnection;
let manager: JetStreamManager;
const encoder = new TextEncoder();

beforeAll(async () => {
  server = await startNatsServer();
  connection = await connect({ servers: server.url });
  manager = await connection.jetstreamManager();
});

afterAll(async () => {
  await connection?.close();
  await server?.stop();
});

async function readAll(stream: string): Promise<{ data: string; headers: Record<string, string> }[]> {
  const info = await manager.streams.info(stream);
  const messages: { data: string; headers: Record<string, string> }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const message = await manager.streams.getMessage(stream, { seq });
    const headers: Record<string, string> = {};
    for (const [key, values] of message.header ?? []) headers[key] = values[0]!;
    messages.push({ data: new TextDecoder().decode(message.data), headers });
  }
  return messages;
}

async function publish(subject: string, payloads: readonly string[]): Promise<number[]> {
  const jetstream = connection.jetstream();
  const sequences: number[] = [];
  for (const payload of payloads)
    sequences.push((await jetstream.publish(subject, encoder.encode(payload))).seq);
  return sequences;
}

describe('NATS JetStream source and sink', () => {
  it('round-trips records and acks each message once the sink stored what came of it', async () => {
    await manager.streams.add({ name: 'round-in', subjects: ['round.in'] });
    await manager.streams.add({ name: 'round-out', subjects: ['round.out'] });
    await manager.streams.add({ name: 'round-dead', subjects: ['round-in.dead-letter'] });
    const count = 1_000;
    const writer = new Job({ name: 'write', batchSize: 100 });
    toNatsSubject(writer.fromIterable(Array.from({ length: count }, (_, id) => ({ id }))), {
      servers: server.url,
      subject: 'round.in',
    });
    await writer.execute();

    const copier = new Job({ name: 'copy', batchSize: 100 });
    const source = natsStreamSource<{ id: number }>(copier, {
      servers: server.url,
      stream: 'round-in',
      consumer: 'copier',
      createConsumer: true,
      endWhenDrainedMs: 200,
    });
    toNatsSubject(source.entries, {
      servers: server.url,
      subject: 'round.out',
      encode: (entry) => encoder.encode(JSON.stringify(entry.value)),
      onWritten: (entries) => source.acknowledge(entries.map((entry) => entry.id)),
    });
    expect((await copier.execute()).status).toBe('finished');
    const copies = (await readAll('round-out')).map((message) => JSON.parse(message.data).id);
    expect(copies).toEqual(Array.from({ length: count }, (_, id) => id));
    expect(source.stats).toEqual({ read: count, redelivered: 0, deadLettered: 0, acknowledged: count });
    const info = await manager.consumers.info('round-in', 'copier');
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
  });

  it('dead-letters malformed messages with the reason in headers, acks them, and passes the rest', async () => {
    await manager.streams.add({ name: 'mixed', subjects: ['mixed.in'] });
    await manager.streams.add({ name: 'mixed-dead', subjects: ['mixed.dead-letter'] });
    const [, broken] = await publish('mixed.in', ['{"id":0}', '{not json', '{"id":1}']);
    const job = new Job({ name: 'mixed' });
    const source = natsStreamSource<{ id: number }>(job, {
      servers: server.url,
      stream: 'mixed',
      consumer: 'reader',
      createConsumer: true,
      deadLetterSubject: 'mixed.dead-letter',
      endWhenDrainedMs: 100,
    });
    const seen: number[] = [];
    source.entries.forEach(async (entry) => {
      seen.push(entry.value.id);
      await source.acknowledge([entry.id]);
    });
    await job.execute();
    expect(seen).toEqual([0, 1]);
    const dead = await readAll('mixed-dead');
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toBe('{not json');
    expect(dead[0]!.headers['Millrace-Sequence']).toBe(String(broken));
    expect(dead[0]!.headers['Millrace-Error']).toMatch(new RegExp(`Entry ${broken} is malformed: .*JSON`));
    const info = await manager.consumers.info('mixed', 'reader');
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
  });

  it('names a missing stream, consumer and dead-letter stream, and an unreachable server', async () => {
    const failure = async (options: Parameters<typeof natsStreamSource>[1]) => {
      const job = new Job();
      natsStreamSource(job, options).entries.collect();
      return job.execute().catch((error) => error);
    };
    const noStream = await failure({ servers: server.url, stream: 'nope', consumer: 'c' });
    expect(BrokerResourceMissingError.isInstance(noStream)).toBe(true);
    expect(noStream.message).toContain("The nats stream 'nope' does not exist");

    await manager.streams.add({ name: 'lonely', subjects: ['lonely.in'] });
    const noConsumer = await failure({ servers: server.url, stream: 'lonely', consumer: 'c' });
    expect(noConsumer).toMatchObject({ resource: 'consumer', resourceName: 'c' });
    expect(noConsumer.message).toContain('createConsumer: true');

    const noDeadLetter = await failure({
      servers: server.url,
      stream: 'lonely',
      consumer: 'c',
      createConsumer: true,
    });
    expect(noDeadLetter).toMatchObject({
      resource: 'dead-letter stream',
      resourceName: 'lonely.dead-letter',
    });

    const url = `nats://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const unreachable = await failure({ servers: url, stream: 's', consumer: 'c', connectTimeoutMs: 500 });
    expect(BrokerUnreachableError.isInstance(unreachable)).toBe(true);
    expect(unreachable.message).toContain(`Cannot reach nats at ${url}`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('holds no more than maxUnacknowledged, and the server redelivers what a stopped host held', async () => {
    await manager.streams.add({ name: 'redeliver', subjects: ['redeliver.in', 'redeliver.dead-letter'] });
    await manager.consumers.add('redeliver', {
      durable_name: 'shared',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 1_000 * 1_000_000,
      filter_subject: 'redeliver.in',
    });
    await publish(
      'redeliver.in',
      Array.from({ length: 30 }, (_, id) => JSON.stringify({ id })),
    );
    const options = {
      servers: server.url,
      stream: 'redeliver',
      consumer: 'shared',
      deadLetterSubject: 'redeliver.dead-letter',
    };
    const first = new Job({ name: 'gone' });
    const gone = natsStreamSource<{ id: number }>(first, {
      ...options,
      maxUnacknowledged: 10,
      fetchCount: 10,
    });
    const held: SourceEntry<{ id: number }>[] = [];
    gone.entries.forEach((entry) => {
      held.push(entry);
    });
    const running = first.execute();
    await expect.poll(() => held.length).toBe(10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(held.length).toBe(10);
    first.cancel('the host went away');
    await running;

    const second = new Job({ name: 'survivor' });
    const survivor = natsStreamSource<{ id: number }>(second, { ...options, endWhenDrainedMs: 300 });
    const received: SourceEntry<{ id: number }>[] = [];
    survivor.entries.forEach(async (entry) => {
      received.push(entry);
      await survivor.acknowledge([entry.id]);
    });
    await second.execute();
    expect(received.map((entry) => entry.value.id).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, id) => id),
    );
    expect(
      received
        .filter((entry) => entry.redelivered)
        .map((entry) => entry.id)
        .sort(),
    ).toEqual(held.map((entry) => entry.id).sort());
    expect(survivor.stats.redelivered).toBe(10);
  });
});
