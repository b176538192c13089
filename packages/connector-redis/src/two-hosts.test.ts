// A job of two host processes sharing one Redis stream through a consumer group. One whole host
// is killed with SIGKILL mid-stream; the other claims the entries it held (XAUTOCLAIM after
// claimIdleMs) and the job's output accounts for every record id.
//
// What is exact: the set of ids in the output equals the set of input ids (none lost), the
// entries the dead host held pending are each redelivered to the survivor exactly once, every
// malformed entry is dead-lettered exactly once, and the group ends with nothing pending.
// What is at-least-once: the sink. The dead host may have written a batch whose entries it had
// not yet acknowledged; the survivor writes those again. So an id may appear twice, only as a
// copy written by the dead host, and at most one sink batch (50 records) of them.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from './testing/redis-server.js';

const hostProgram = fileURLToPath(new URL('./fixtures/redis-host.mjs', import.meta.url));
let server: RedisServer;
let redis: Redis;
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  redis?.disconnect();
  await server?.stop();
});

function startHost(host: string): { child: ChildProcess; written: () => number; output: () => string } {
  const child = spawn(process.execPath, [hostProgram], {
    env: { ...process.env, REDIS_URL: server.url, HOST: host, CLAIM_IDLE_MS: '1000', DELAY_MS: '10' },
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

it('kill -9 of one host mid-stream: the other claims its pending entries and every id arrives', async () => {
  const count = 10_000;
  const malformedAt = new Set([17, 2_500, 5_001, 7_777, 9_998]);
  await redis.xgroup('CREATE', 'numbers', 'hosts', '0', 'MKSTREAM');
  const pipeline = redis.pipeline();
  for (let i = 0; i < count + malformedAt.size; i++) {
    const id = i - [...malformedAt].filter((at) => at < i).length;
    if (malformedAt.has(i)) pipeline.xadd('numbers', '*', 'data', `broken-${i}`);
    else pipeline.xadd('numbers', '*', 'data', JSON.stringify({ id }));
  }
  const added = (await pipeline.exec())!.map(([, id]) => id as string);
  const malformedIds = [...malformedAt].map((at) => added[at]!);

  const victim = startHost('victim');
  const survivor = startHost('survivor');
  await expect.poll(() => victim.written(), { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(1_000);
  victim.child.kill('SIGKILL');
  await once(victim.child, 'exit');
  const heldByVictim = (await redis.xpending('numbers', 'hosts', '-', '+', 10_000, 'victim-0')) as unknown[];

  const [code] = (await Promise.race([
    once(survivor.child, 'exit'),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`survivor did not finish:\n${survivor.output()}`)), 60_000),
    ),
  ])) as [number | null];
  expect(code, survivor.output()).toBe(0);
  expect(victim.child.signalCode).toBe('SIGKILL');

  const rows = (await redis.xrange('processed', '-', '+')) as [string, string[]][];
  const records = rows.map(([, fields]) => ({ id: Number(fields[1]), host: fields[3]! }));
  const distinct = new Set(records.map((record) => record.id));
  // None lost: exactly the input ids, checked as a set and as a checksum.
  expect(distinct.size).toBe(count);
  expect([...distinct].reduce((sum, id) => sum + id, 0)).toBe((count * (count - 1)) / 2);
  expect(Math.min(...distinct)).toBe(0);
  expect(Math.max(...distinct)).toBe(count - 1);
  // Duplicates: only records the dead host wrote before acknowledging, at most one sink batch.
  const seen = new Map<number, string[]>();
  for (const record of records) seen.set(record.id, [...(seen.get(record.id) ?? []), record.host]);
  const duplicated = [...seen].filter(([, hosts]) => hosts.length > 1);
  expect(records.length - count).toBe(duplicated.length);
  expect(duplicated.length).toBeLessThanOrEqual(50);
  for (const [, hosts] of duplicated) expect(hosts.sort()).toEqual(['survivor', 'victim']);
  // Both hosts worked; the survivor took over exactly what the victim held.
  expect(records.filter((record) => record.host === 'victim').length).toBeGreaterThanOrEqual(1_000);
  expect(heldByVictim.length).toBeGreaterThan(0);
  const stats = JSON.parse(/stats (.*)\n/.exec(survivor.output())![1]!);
  expect(stats.redelivered).toBe(heldByVictim.length);
  // Malformed entries: dead-lettered once each, by whichever host read them.
  const dead = (await redis.xrange('numbers:dead-letter', '-', '+')) as [string, string[]][];
  expect(dead.map(([, fields]) => fields[fields.indexOf('id') + 1]).sort()).toEqual([...malformedIds].sort());
  // Nothing left pending in the group.
  expect(((await redis.xpending('numbers', 'hosts')) as [number])[0]).toBe(0);
}, 90_000);
