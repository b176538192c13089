/**
 * Two job processes ("hosts") share one Redis stream through a consumer group (issue 11). Each
 * feeds a stream-mode trainer whose model is a count per record id, kept in its checkpoint; each
 * acknowledges entries on Redis only when a checkpoint covers them (source.checkpointListener).
 * One whole host process is killed with SIGKILL mid-stream: its runner dies with it, and the
 * entries it had not acknowledged stay pending under its consumer. The survivor claims them
 * (XAUTOCLAIM once idle for claimIdleMs) and trains on them; the connector-kit dedup rule skips a
 * redelivered entry a checkpoint already holds (here the dead host's, which stays on its disk).
 * The final checksum over both hosts' checkpoints is exact: every id trained exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@millrace/connector-redis/testing';
import { processesWithMarker } from '@millrace/runtime/testing';
import { Redis } from 'ioredis';
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
  directory: string;
  output: () => string;
}

function startHost(url: string, consumer: string, peers: readonly string[]): Host {
  const directory = mkdtempSync(join(tmpdir(), `broker-two-hosts-${consumer}-`));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const child = spawn(process.execPath, [hostProgram], {
    env: {
      ...process.env,
      BROKER: 'redis',
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

describe('two job processes share one Redis stream', () => {
  it('kill -9 of one host mid-stream: the other claims its pending entries; every id trained exactly once', async () => {
    const server = await startRedisServer();
    cleanups.push(() => server.stop());
    const redis = new Redis(server.url);
    cleanups.push(() => redis.disconnect());
    await redis.xgroup('CREATE', 'numbers', 'trainers', '0', 'MKSTREAM');
    const pipeline = redis.pipeline();
    for (let id = 0; id < count; id++) pipeline.xadd('numbers', '*', 'data', JSON.stringify({ id }));
    await pipeline.exec();

    const victim = startHost(server.url, 'victim', []);
    const survivor = startHost(server.url, 'survivor', [victim.directory]);
    await expect
      .poll(() => trained(victim.directory), { timeout: 60_000, interval: 20 })
      .toBeGreaterThanOrEqual(300);
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    expect(victim.child.signalCode).toBe('SIGKILL');
    const heldByVictim = (await redis.xpending(
      'numbers',
      'trainers',
      '-',
      '+',
      count,
      'victim-0',
    )) as unknown[];
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
    // Both hosts trained; the survivor claimed exactly what the dead host held pending.
    expect(trained(victim.directory)).toBeGreaterThanOrEqual(300);
    expect(trained(survivor.directory)).toBeGreaterThan(0);
    expect(heldByVictim.length).toBeGreaterThan(0);
    const stats = JSON.parse(/stats (.*)\n/.exec(survivor.output())![1]!);
    expect(stats.redelivered).toBe(heldByVictim.length);
    // Nothing left pending in the group, and no trainer process left behind.
    expect(((await redis.xpending('numbers', 'trainers')) as [number])[0]).toBe(0);
    expect(processesWithMarker(trainerMarker)).toEqual([]);
  }, 180_000);
});
