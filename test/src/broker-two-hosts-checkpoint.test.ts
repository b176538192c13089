/**
 * Two job processes ("hosts") share one stream (issue 11): a Redis consumer group (each host its
 * own consumer) or a JetStream durable consumer (both hosts pull from it). Each feeds a
 * stream-mode trainer whose model is a count per record id, kept in its checkpoint; each
 * acknowledges entries on the broker only when a checkpoint covers them (source.checkpointListener).
 * One whole host process is killed with SIGKILL mid-stream: its runner dies with it, and the
 * entries it had not acknowledged stay pending. The survivor gets them — Redis: it claims them
 * (XAUTOCLAIM once idle for claimIdleMs); NATS: the server redelivers them after the ack wait — and
 * trains on them; the connector-kit dedup rule skips a redelivered entry a checkpoint already holds
 * (here possibly the dead host's, which stays on its disk). The final checksum over both hosts'
 * checkpoints is exact: every id trained exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsServer } from '@millrace/connector-nats/testing';
import { startRedisServer } from '@millrace/connector-redis/testing';
import { processesWithMarker } from '@millrace/runtime/testing';
import { Redis } from 'ioredis';
import { AckPolicy, connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';

const hostProgram = fileURLToPath(new URL('./fixtures/broker-trainer-host.mjs', import.meta.url));
const trainerMarker = 'checkpointing-trainer.mjs';
const count = 4_000;
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Broker = 'redis' | 'nats';

interface Host {
  child: ChildProcess;
  directory: string;
  output: () => string;
}

function startHost(broker: Broker, url: string, consumer: string, peers: readonly string[]): Host {
  const directory = mkdtempSync(join(tmpdir(), `broker-two-hosts-${consumer}-`));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const child = spawn(process.execPath, [hostProgram], {
    env: {
      ...process.env,
      BROKER: broker,
      BROKER_URL: url,
      CHECKPOINT_DIR: directory,
      RECORD_COUNT: String(count),
      CONSUMER: consumer,
      CLAIM_IDLE_MS: '1000',
      PEER_CHECKPOINT_DIRS: peers.join(','),
      CHECKPOINT_IDLE_MS: '300',
      TRAIN_DELAY_MS: '20',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  return { child, directory, output: () => output };
}

/** How often each id is in a host's last checkpoint. */
function checkpointCounts(directory: string): Uint8Array {
  const file = join(directory, 'trainer.json');
  if (!existsSync(file)) return new Uint8Array(count);
  return new Uint8Array(Buffer.from(JSON.parse(readFileSync(file, 'utf8')).counts, 'base64'));
}

const trained = (directory: string) => checkpointCounts(directory).reduce((sum, times) => sum + times, 0);

/**
 * Runs the two hosts on `url`, kills the victim once its checkpoint holds 300 ids, waits for the
 * survivor and checks the models. `pendingAtKill` says how many entries the broker held pending
 * (Redis: the victim's; NATS: both hosts'); returns it and the survivor's source stats.
 */
async function killOneHost(
  broker: Broker,
  url: string,
  pendingAtKill: () => Promise<number>,
): Promise<{ pending: number; redelivered: number }> {
  const victim = startHost(broker, url, 'victim', []);
  const survivor = startHost(broker, url, 'survivor', [victim.directory]);
  await expect
    .poll(() => trained(victim.directory), { timeout: 60_000, interval: 20 })
    .toBeGreaterThanOrEqual(300);
  victim.child.kill('SIGKILL');
  await once(victim.child, 'exit');
  expect(victim.child.signalCode).toBe('SIGKILL');
  const pending = await pendingAtKill();
  const victimAtKill = checkpointCounts(victim.directory);

  const [code] = (await Promise.race([
    once(survivor.child, 'exit'),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`the survivor did not finish:\n${survivor.output()}`)), 90_000),
    ),
  ])) as [number | null];
  expect(code, survivor.output()).toBe(0);

  // The dead host's checkpoint did not change after the kill (its runner died with it).
  expect(checkpointCounts(victim.directory)).toEqual(victimAtKill);
  // The exact checksum over both hosts' models: every id exactly once, none lost, none twice.
  const survivorCounts = checkpointCounts(survivor.directory);
  const total = victimAtKill.map((times, id) => times + survivorCounts[id]!);
  expect(total.filter((times) => times !== 1).length).toBe(0);
  expect(total.reduce((sum, times, id) => sum + times * id, 0)).toBe((count * (count - 1)) / 2);
  // Both hosts trained, and the kill left entries pending on the broker.
  expect(trained(victim.directory)).toBeGreaterThanOrEqual(300);
  expect(trained(survivor.directory)).toBeGreaterThan(0);
  expect(pending).toBeGreaterThan(0);
  expect(processesWithMarker(trainerMarker)).toEqual([]);
  const stats = JSON.parse(/stats (.*)\n/.exec(survivor.output())![1]!) as { redelivered: number };
  return { pending, redelivered: stats.redelivered };
}

describe('two job processes share one stream; kill -9 of one host mid-stream', () => {
  it("Redis Streams: the survivor claims the dead host's pending entries; every id trained exactly once", async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const redis = new Redis(server.url);
    cleanups.push(() => redis.disconnect());
    await redis.xgroup('CREATE', 'numbers', 'trainers', '0', 'MKSTREAM');
    const pipeline = redis.pipeline();
    for (let id = 0; id < count; id++) pipeline.xadd('numbers', '*', 'data', JSON.stringify({ id }));
    await pipeline.exec();

    const { pending, redelivered } = await killOneHost('redis', server.url, async () => {
      const held = await redis.xpending('numbers', 'trainers', '-', '+', count, 'victim-0');
      return (held as unknown[]).length;
    });
    // The survivor claimed exactly what the dead host held pending, and nothing is left pending.
    expect(redelivered).toBe(pending);
    expect(((await redis.xpending('numbers', 'trainers')) as [number])[0]).toBe(0);
  }, 180_000);

  it("NATS JetStream: the server redelivers the dead host's messages to the survivor; every id trained exactly once", async () => {
    const server = await startNatsServer();
    cleanups.push(() => server.stop());
    const connection = await connect({ servers: server.url });
    cleanups.push(() => connection.close());
    const manager = await connection.jetstreamManager();
    await manager.streams.add({ name: 'numbers', subjects: ['numbers'] });
    await manager.streams.add({ name: 'numbers-dead', subjects: ['numbers.dead-letter'] });
    await manager.consumers.add('numbers', {
      durable_name: 'trainers',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 2_000 * 1_000_000,
      max_ack_pending: 5_000,
    });
    const jetstream = connection.jetstream();
    const publishes: Promise<unknown>[] = [];
    for (let id = 0; id < count; id++) {
      publishes.push(jetstream.publish('numbers', new TextEncoder().encode(JSON.stringify({ id }))));
      if (publishes.length >= 500) await Promise.all(publishes.splice(0));
    }
    await Promise.all(publishes);

    const { redelivered } = await killOneHost(
      'nats',
      server.url,
      async () => (await manager.consumers.info('numbers', 'trainers')).num_ack_pending,
    );
    // The dead host's messages came back (redelivered) to the survivor; nothing is left.
    expect(redelivered).toBeGreaterThan(0);
    const consumer = await manager.consumers.info('numbers', 'trainers');
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0]);
  }, 180_000);
});
