/**
 * What the broker checkpoint tests share: the real brokers with a stream of numbered records, the
 * trainer host process (fixtures/broker-trainer-host.mjs: a broker source into a stream-mode
 * trainer whose model is a count per record id, kept in its checkpoint), and that model read back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsServer } from '@millrace/connector-nats/testing';
import { startRedisServer } from '@millrace/connector-redis/testing';
import { Redis } from 'ioredis';
import { AckPolicy, connect, type JetStreamManager } from 'nats';

const hostProgram = fileURLToPath(new URL('./fixtures/broker-trainer-host.mjs', import.meta.url));

/** What the trainer runner's command line carries (for processesWithMarker). */
export const trainerMarker = 'checkpointing-trainer.mjs';

export type Broker = 'redis' | 'nats';
export type Cleanups = (() => Promise<void> | void)[];

export interface TrainerHost {
  child: ChildProcess;
  output: () => string;
}

/**
 * Starts the trainer host on `url`, training ids 0 … count - 1 into `checkpointDirectory`; `env`
 * adds the fixture's other settings (CONSUMER, CLAIM_IDLE_MS, PEER_CHECKPOINT_DIRS …).
 */
export function startTrainerHost(
  cleanups: Cleanups,
  options: { broker: Broker; url: string; checkpointDirectory: string; count: number },
  env: Record<string, string> = {},
): TrainerHost {
  const child = spawn(process.execPath, [hostProgram], {
    env: {
      ...process.env,
      BROKER: options.broker,
      BROKER_URL: options.url,
      CHECKPOINT_DIR: options.checkpointDirectory,
      RECORD_COUNT: String(options.count),
      ...env,
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

/** The host's exit code, once it exited on its own (bounded: 90 s). */
export async function exitCodeOf(host: TrainerHost): Promise<number | null> {
  const [code] = (await Promise.race([
    once(host.child, 'exit'),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`the job did not finish:\n${host.output()}`)), 90_000),
    ),
  ])) as [number | null];
  return code;
}

/** The source's stats line the host prints at the end (`stats {...}`). */
export function sourceStats(host: TrainerHost): { redelivered: number } {
  return JSON.parse(/stats (.*)\n/.exec(host.output())![1]!) as { redelivered: number };
}

/** How often each id is in the trainer's last checkpoint in `directory`. */
export function checkpointCounts(directory: string, count: number): Uint8Array {
  const file = join(directory, 'trainer.json');
  if (!existsSync(file)) return new Uint8Array(count);
  return new Uint8Array(Buffer.from(JSON.parse(readFileSync(file, 'utf8')).counts, 'base64'));
}

/** How many records the checkpoint in `directory` holds. */
export function trainedIn(directory: string, count: number): number {
  return checkpointCounts(directory, count).reduce((sum, times) => sum + times, 0);
}

/** A real redis-server with stream `numbers` (ids 0 … count - 1) and its group `trainers`. */
export async function redisWithNumbers(cleanups: Cleanups, count: number) {
  const server = await startRedisServer();
  cleanups.push(() => server.stop());
  const redis = new Redis(server.url);
  cleanups.push(() => redis.disconnect());
  await redis.xgroup('CREATE', 'numbers', 'trainers', '0', 'MKSTREAM');
  const pipeline = redis.pipeline();
  for (let id = 0; id < count; id++) pipeline.xadd('numbers', '*', 'data', JSON.stringify({ id }));
  const entryIds = (await pipeline.exec())!.map(([, entryId]) => entryId as string);
  return { url: server.url, redis, entryIds };
}

/**
 * A real nats-server (JetStream) with stream `numbers` (ids 0 … count - 1; sequence n carries id
 * n - 1), its dead-letter stream and the durable consumer `trainers` (explicit acks, 2 s ack wait).
 */
export async function natsWithNumbers(
  cleanups: Cleanups,
  count: number,
): Promise<{ url: string; manager: JetStreamManager }> {
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
  return { url: server.url, manager };
}
