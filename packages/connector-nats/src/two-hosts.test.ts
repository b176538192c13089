// A job of two host processes sharing one JetStream durable consumer. One whole host is killed
// with SIGKILL mid-stream; the server redelivers the messages it held once the consumer's ack wait
// passes, the survivor processes them, and the output accounts for every record id.
//
// What is exact: the set of ids in the output equals the set of input ids (none lost), every
// malformed message is dead-lettered once, and the consumer ends with nothing pending or unacked.
// What is at-least-once: the sink. The dead host may have published a batch whose messages it had
// not yet acked; the survivor publishes those again, so an id may appear twice, only as a copy the
// dead host wrote, and at most one sink batch (50 records) of them.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { AckPolicy, connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type NatsServer, startNatsServer } from './testing/nats-server.js';

const hostProgram = fileURLToPath(new URL('./fixtures/nats-host.mjs', import.meta.url));
let server: NatsServer;
let connection: NatsConnection;
let manager: JetStreamManager;
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  connection = await connect({ servers: server.url });
  manager = await connection.jetstreamManager();
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await connection?.close();
  await server?.stop();
});

function startHost(host: string): { child: ChildProcess; written: () => number; output: () => string } {
  const child = spawn(process.execPath, [hostProgram], {
    env: { ...process.env, NATS_URL: server.url, HOST: host, DELAY_MS: '10' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  let written = 0;
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
    const last = /written (\d+)\n(?![\s\S]*written)/.exec(output);
    if (last) written = Number(last[1]);
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  return { child, written: () => written, output: () => output };
}

it('kill -9 of one host mid-stream: its messages are redelivered to the other and every id arrives', async () => {
  const count = 10_000;
  const malformedAt = new Set([17, 2_500, 5_001, 7_777, 9_998]);
  await manager.streams.add({ name: 'numbers', subjects: ['numbers'] });
  await manager.streams.add({ name: 'processed', subjects: ['processed'] });
  await manager.streams.add({
    name: 'numbers-dead',
    subjects: ['numbers.dead-letter'],
    duplicate_window: 120_000_000_000,
  });
  await manager.consumers.add('numbers', {
    durable_name: 'hosts',
    ack_policy: AckPolicy.Explicit,
    ack_wait: 1_500 * 1_000_000,
    max_ack_pending: 5_000,
  });
  const jetstream = connection.jetstream();
  const encoder = new TextEncoder();
  const publishes: Promise<unknown>[] = [];
  let id = 0;
  for (let i = 0; i < count + malformedAt.size; i++) {
    const payload = malformedAt.has(i) ? `broken-${i}` : JSON.stringify({ id: id++ });
    publishes.push(jetstream.publish('numbers', encoder.encode(payload)));
    if (publishes.length >= 500) await Promise.all(publishes.splice(0));
  }
  await Promise.all(publishes);

  const victim = startHost('victim');
  const survivor = startHost('survivor');
  await expect.poll(() => victim.written(), { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(1_000);
  victim.child.kill('SIGKILL');
  await once(victim.child, 'exit');

  const [code] = (await Promise.race([
    once(survivor.child, 'exit'),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`survivor did not finish:\n${survivor.output()}`)), 60_000),
    ),
  ])) as [number | null];
  expect(code, survivor.output()).toBe(0);
  expect(victim.child.signalCode).toBe('SIGKILL');

  const info = await manager.streams.info('processed');
  const records: { id: number; host: string }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const message = await manager.streams.getMessage('processed', { seq });
    records.push(JSON.parse(new TextDecoder().decode(message.data)));
  }
  const distinct = new Set(records.map((record) => record.id));
  expect(distinct.size).toBe(count);
  expect([...distinct].reduce((sum, value) => sum + value, 0)).toBe((count * (count - 1)) / 2);
  const seen = new Map<number, string[]>();
  for (const record of records) seen.set(record.id, [...(seen.get(record.id) ?? []), record.host]);
  const duplicated = [...seen].filter(([, hosts]) => hosts.length > 1);
  expect(records.length - count).toBe(duplicated.length);
  expect(duplicated.length).toBeLessThanOrEqual(50);
  for (const [, hosts] of duplicated) expect(hosts.sort()).toEqual(['survivor', 'victim']);
  expect(records.filter((record) => record.host === 'victim').length).toBeGreaterThanOrEqual(1_000);
  const stats = JSON.parse(/stats (.*)\n/.exec(survivor.output())![1]!);
  expect(stats.redelivered).toBeGreaterThan(0);
  const dead = await manager.streams.info('numbers-dead');
  expect(dead.state.messages).toBe(malformedAt.size);
  const consumer = await manager.consumers.info('numbers', 'hosts');
  expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0]);
}, 90_000);
