/**
 * Broker entries are acknowledged at the checkpoint that covers them (issue 11), with the real
 * servers: a Redis Streams or JetStream source feeds a stream-mode trainer role whose runner
 * checkpoints a count per record id every 100 records; `source.checkpointListener` acknowledges
 * entries on the broker only when a checkpoint covering them is acknowledged.
 *
 * The whole job process is killed with SIGKILL mid-stream (its runner dies with it). Checked at
 * that moment: every entry the broker counts as acknowledged is in the trainer's last checkpoint
 * (nothing was acknowledged ahead of the model state). Then the job process is started again with
 * the same consumer and checkpoint directory: the broker redelivers what was not acknowledged, and
 * the final checkpoint holds every id exactly once, using the documented dedup rule (a redelivered
 * entry already in the model is skipped; those are the entries a checkpoint covered whose
 * acknowledgement had not reached the broker). The broker ends with nothing pending.
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

interface Host {
  child: ChildProcess;
  output: () => string;
}

function startHost(broker: 'redis' | 'nats', url: string, checkpointDirectory: string): Host {
  const child = spawn(process.execPath, [hostProgram], {
    env: {
      ...process.env,
      BROKER: broker,
      BROKER_URL: url,
      CHECKPOINT_DIR: checkpointDirectory,
      RECORD_COUNT: String(count),
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
  return { child, output: () => output };
}

/** Ids the trainer's checkpoint holds, with how often. */
function checkpointCounts(directory: string): Uint8Array {
  const file = join(directory, 'trainer.json');
  if (!existsSync(file)) return new Uint8Array(count);
  return new Uint8Array(Buffer.from(JSON.parse(readFileSync(file, 'utf8')).counts, 'base64'));
}

function trained(directory: string): number {
  return checkpointCounts(directory).reduce((sum, times) => sum + times, 0);
}

async function finished(host: Host): Promise<number | null> {
  const [code] = (await Promise.race([
    once(host.child, 'exit'),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`the job did not finish:\n${host.output()}`)), 90_000),
    ),
  ])) as [number | null];
  return code;
}

/**
 * Kills the job mid-stream, checks `acknowledgedIds()` against the checkpoint, restarts it and
 * checks the final model. Returns the restarted job's source stats.
 */
async function killAndResume(
  broker: 'redis' | 'nats',
  url: string,
  acknowledgedIds: () => Promise<number[]>,
): Promise<{ redelivered: number }> {
  const directory = mkdtempSync(join(tmpdir(), `broker-checkpoint-${broker}-`));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const first = startHost(broker, url, directory);
  await expect
    .poll(() => trained(directory), { timeout: 60_000, interval: 20 })
    .toBeGreaterThanOrEqual(1_000);
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  expect(first.child.signalCode).toBe('SIGKILL');
  // Its runner died with it (the kernel's parent-death signal), so it writes no more checkpoints.
  await expect.poll(() => processesWithMarker(trainerMarker), { timeout: 10_000 }).toEqual([]);

  // Nothing acknowledged ahead of the model: every acknowledged entry is in the last checkpoint.
  const acknowledged = await acknowledgedIds();
  const atKill = checkpointCounts(directory);
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(acknowledged.filter((id) => atKill[id] === 0)).toEqual([]);
  const trainedAtKill = trained(directory);
  expect(trainedAtKill).toBeLessThan(count); // the kill landed mid-stream

  const second = startHost(broker, url, directory);
  expect(await finished(second), second.output()).toBe(0);
  const final = checkpointCounts(directory);
  // Every id exactly once in the model.
  expect(final.filter((times) => times !== 1).length).toBe(0);
  expect(final.length).toBe(count);
  expect(processesWithMarker(trainerMarker)).toEqual([]);
  return JSON.parse(/stats (.*)\n/.exec(second.output())![1]!);
}

describe('broker sources acknowledge at the checkpoint: kill -9 of the job process mid-stream', () => {
  it('Redis Streams: unacknowledged entries come back to the restarted job; each id is trained once', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const redis = new Redis(server.url);
    cleanups.push(() => redis.disconnect());
    await redis.xgroup('CREATE', 'numbers', 'trainers', '0', 'MKSTREAM');
    const pipeline = redis.pipeline();
    for (let id = 0; id < count; id++) pipeline.xadd('numbers', '*', 'data', JSON.stringify({ id }));
    const entryIds = (await pipeline.exec())!.map(([, entryId]) => entryId as string);

    const stats = await killAndResume('redis', server.url, async () => {
      // Delivered to the group (up to its last-delivered id) and not pending = acknowledged.
      const groups = (await redis.xinfo('GROUPS', 'numbers')) as unknown[][];
      const lastDelivered = groups[0]![groups[0]!.indexOf('last-delivered-id') + 1] as string;
      const pending = new Set(
        ((await redis.xpending('numbers', 'trainers', '-', '+', count)) as [string][]).map(([id]) => id),
      );
      const delivered = entryIds.indexOf(lastDelivered) + 1;
      const acknowledged: number[] = [];
      for (let id = 0; id < delivered; id++) if (!pending.has(entryIds[id]!)) acknowledged.push(id);
      return acknowledged;
    });
    // The restarted consumer re-read its own pending entries first.
    expect(stats.redelivered).toBeGreaterThan(0);
    expect(((await redis.xpending('numbers', 'trainers')) as [number])[0]).toBe(0);
  }, 180_000);

  it('NATS JetStream: unacknowledged messages come back to the restarted job; each id is trained once', async () => {
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

    const stats = await killAndResume('nats', server.url, async () => {
      // Every message up to the consumer's ack floor is acknowledged (sequence n carries id n - 1).
      const info = await manager.consumers.info('numbers', 'trainers');
      return Array.from({ length: info.ack_floor.stream_seq }, (_, index) => index);
    });
    expect(stats.redelivered).toBeGreaterThan(0);
    const consumer = await manager.consumers.info('numbers', 'trainers');
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0]);
  }, 180_000);
});
