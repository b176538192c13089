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

/**
 * Kills the job mid-stream, checks `acknowledgedIds()` against the checkpoint, restarts it and
 * checks the final model. Returns the restarted job's source stats.
 */
async function killAndResume(
  broker: Broker,
  url: string,
  acknowledgedIds: () => Promise<number[]>,
): Promise<{ redelivered: number }> {
  const directory = mkdtempSync(join(tmpdir(), `broker-checkpoint-${broker}-`));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const host = { broker, url, checkpointDirectory: directory, count };
  const first = startTrainerHost(cleanups, host);
  await expect
    .poll(() => trainedIn(directory, count), { timeout: 60_000, interval: 20 })
    .toBeGreaterThanOrEqual(1_000);
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  expect(first.child.signalCode).toBe('SIGKILL');
  // Its runner died with it (the kernel's parent-death signal), so it writes no more checkpoints.
  await expect.poll(() => processesWithMarker(trainerMarker), { timeout: 10_000 }).toEqual([]);

  // Nothing acknowledged ahead of the model: every acknowledged entry is in the last checkpoint.
  const acknowledged = await acknowledgedIds();
  const atKill = checkpointCounts(directory, count);
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(acknowledged.filter((id) => atKill[id] === 0)).toEqual([]);
  const trainedAtKill = trainedIn(directory, count);
  expect(trainedAtKill).toBeLessThan(count); // the kill landed mid-stream

  const second = startTrainerHost(cleanups, host);
  expect(await exitCodeOf(second), second.output()).toBe(0);
  const final = checkpointCounts(directory, count);
  // Every id exactly once in the model.
  expect(final.filter((times) => times !== 1).length).toBe(0);
  expect(final.length).toBe(count);
  expect(processesWithMarker(trainerMarker)).toEqual([]);
  return sourceStats(second);
}

describe('broker sources acknowledge at the checkpoint: kill -9 of the job process mid-stream', () => {
  it('Redis Streams: unacknowledged entries come back to the restarted job; each id is trained once', async () => {
    const { url, redis, entryIds } = await redisWithNumbers(cleanups, count);
    const stats = await killAndResume('redis', url, async () => {
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
    const { url, manager } = await natsWithNumbers(cleanups, count);
    const stats = await killAndResume('nats', url, async () => {
      // Every message up to the consumer's ack floor is acknowledged (sequence n carries id n - 1).
      const info = await manager.consumers.info('numbers', 'trainers');
      return Array.from({ length: info.ack_floor.stream_seq }, (_, index) => index);
    });
    expect(stats.redelivered).toBeGreaterThan(0);
    const consumer = await manager.consumers.info('numbers', 'trainers');
    expect([consumer.num_pending, consumer.num_ack_pending]).toEqual([0, 0]);
  }, 180_000);
});
