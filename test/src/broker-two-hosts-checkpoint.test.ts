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
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesWithMarker } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Broker,
  type Cleanups,
  checkpointCounts,
  exitCodeOf,
  natsWithNumbers,
  redisWithNumbers,
  sourceStats,
  startTrainerHost,
  trainedIn,
  trainerMarker,
} from './broker-trainer-support.js';

const count = 4_000;
const cleanups: Cleanups = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One host: consumer `consumer`, its own checkpoint folder, deduplicating against `peers`'. */
function startHost(broker: Broker, url: string, consumer: string, peers: readonly string[]) {
  const directory = mkdtempSync(join(tmpdir(), `broker-two-hosts-${consumer}-`));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const host = startTrainerHost(
    cleanups,
    { broker, url, checkpointDirectory: directory, count },
    {
      CONSUMER: consumer,
      CLAIM_IDLE_MS: '1000',
      PEER_CHECKPOINT_DIRS: peers.join(','),
      CHECKPOINT_IDLE_MS: '300',
      TRAIN_DELAY_MS: '20',
    },
  );
  return { ...host, directory };
}

const trained = (directory: string) => trainedIn(directory, count);

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
  const victimAtKill = checkpointCounts(victim.directory, count);

  expect(await exitCodeOf(survivor), survivor.output()).toBe(0);

  // The dead host's checkpoint did not change after the kill (its runner died with it).
  expect(checkpointCounts(victim.directory, count)).toEqual(victimAtKill);
  // The exact checksum over both hosts' models: every id exactly once, none lost, none twice.
  const survivorCounts = checkpointCounts(survivor.directory, count);
  const total = victimAtKill.map((times, id) => times + survivorCounts[id]!);
  expect(total.filter((times) => times !== 1).length).toBe(0);
  expect(total.reduce((sum, times, id) => sum + times * id, 0)).toBe((count * (count - 1)) / 2);
  // Both hosts trained, and the kill left entries pending on the broker.
  expect(trained(victim.directory)).toBeGreaterThanOrEqual(300);
  expect(trained(survivor.directory)).toBeGreaterThan(0);
  expect(pending).toBeGreaterThan(0);
  expect(processesWithMarker(trainerMarker)).toEqual([]);
  return { pending, redelivered: sourceStats(survivor).redelivered };
}

describe('two job processes share one stream; kill -9 of one host mid-stream', () => {
  it("Redis Streams: the survivor claims the dead host's pending entries; every id trained exactly once", async () => {
    const { url, redis } = await redisWithNumbers(cleanups, count);
    const { pending, redelivered } = await killOneHost('redis', url, async () => {
      const held = await redis.xpending('numbers', 'trainers', '-', '+', count, 'victim-0');
      return (held as unknown[]).length;
    });
    // The survivor claimed exactly what the dead host held pending, and nothing is left pending.
    expect(redelivered).toBe(pending);
    expect(((await redis.xpending('numbers', 'trainers')) as [number])[0]).toBe(0);
  }, 180_000);

  it("NATS JetStream: the server redelivers the dead host's messages to the survivor; every id trained exactly once", async () => {
    const { url, manager } = await natsWithNumbers(cleanups, count);
    const { redelivered } = await killOneHost(
      'nats',
      url,
      async () => (await manager.consumers.info('numbers', 'trainers')).num_ack_pending,
    );
    // The dead host's messages came back (redelivered) to the survivor; nothing is left.
    expect(redelivered).toBeGreaterThan(0);
    const consumer = await manager.consumers.info('numbers', 'trainers');
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0]);
  }, 180_000);
});
