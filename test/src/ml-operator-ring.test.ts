import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRecordTransport } from '@millrace/bridge-shm';
import { JobFailedError } from '@millrace/core';
import { Job, runJobModule } from '@millrace/dataflow';
import {
  addAMRole,
  addRole,
  createGenericEngine,
  type RecordTransportChoice,
  streamProcessRunner,
} from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { job as streamToCluster } from '../../examples/stream-to-cluster/src/main.mjs';

const testDirectory = fileURLToPath(new URL('..', import.meta.url));

/**
 * A runner program that echoes every record doubled and first reports how its records travel.
 * With KILL_AT_RECORD it SIGKILLs itself there (a crash the program cannot clean up after).
 */
const echoProgram = `
import { openRunnerChannels } from '@millrace/runtime';
const { input, output } = await openRunnerChannels();
const env = process.env;
const encode = (value) => new TextEncoder().encode(JSON.stringify(value));
await output.write(encode({ transport: env.MILLRACE_RECORDS_TRANSPORT, rings: [env.MILLRACE_RECORDS_IN_RING, env.MILLRACE_RECORDS_OUT_RING] }));
const killAt = Number(env.KILL_AT_RECORD ?? Number.NaN);
const pauseMs = Number(env.PAUSE_MS ?? 0);
let count = 0;
for await (const bytes of input) {
  count += 1;
  if (count === killAt) process.kill(process.pid, 'SIGKILL');
  if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  await output.write(encode({ doubled: 2 * JSON.parse(new TextDecoder().decode(bytes)) }));
}
await output.end();
`;

interface Echoed {
  transport?: string;
  rings?: (string | undefined)[];
  doubled?: number;
}

function echoCluster(
  job: Job,
  options: {
    count?: number;
    transport?: RecordTransportChoice;
    killAt?: number;
    pauseMs?: number;
    queueCapacity?: number;
  } = {},
) {
  addAMRole(
    job,
    { name: 'echo', engine: 'generic', roles: { worker: { instances: 2 } }, maxRestarts: 0 },
    { engine: createGenericEngine({ roles: ['worker'] }) },
  );
  const numbers =
    options.count === undefined
      ? job.generate((i) => i, { ratePerSecond: 20_000 })
      : job.generate((i) => i, { count: options.count });
  return addRole<number, Echoed>(job, 'worker', {
    instances: 2,
    input: numbers,
    runner: streamProcessRunner({
      command: process.execPath,
      args: ['--input-type=module', '-e', echoProgram],
      cwd: testDirectory,
      output: 'ignore',
      gracePeriodMs: 1_000,
      ...(options.transport ? { transport: options.transport } : {}),
      env: {
        ...(options.killAt ? { KILL_AT_RECORD: String(options.killAt) } : {}),
        ...(options.pauseMs ? { PAUSE_MS: String(options.pauseMs) } : {}),
      },
    }),
    ...(options.queueCapacity ? { queueCapacity: options.queueCapacity } : {}),
  }).collect();
}

/** Ring files of this process's job directories (RING.md §1) right now. */
function ringFilesNow(): string[] {
  return readdirSync('/dev/shm')
    .filter((name) => name.startsWith(`millrace-${process.pid}-`))
    .flatMap((directory) =>
      readdirSync(join('/dev/shm', directory)).map((name) => join('/dev/shm', directory, name)),
    );
}

const savedTransport = process.env.MILLRACE_RECORDS_TRANSPORT;
afterEach(() => {
  if (savedTransport === undefined) delete process.env.MILLRACE_RECORDS_TRANSPORT;
  else process.env.MILLRACE_RECORDS_TRANSPORT = savedTransport;
});

describe('ML operator: record transports', () => {
  it.each([
    ['shm', 'shm'],
    ['pipes', 'pipes'],
    ['default', 'shm'], // the ring, since @millrace/bridge-shm is built here
  ] as const)(
    'transport %s: every record goes through %s and comes back; no ring file is left',
    async (transport, expected) => {
      const job = new Job({ batchSize: 64 });
      const results = echoCluster(job, { count: 5_000, ...(transport === 'default' ? {} : { transport }) });
      expect((await job.execute()).status).toBe('finished');
      const reports = results.records.filter((record) => record.transport !== undefined);
      expect(reports.map((report) => report.transport)).toEqual([expected, expected]);
      const doubled = results.records.flatMap((record) =>
        record.doubled === undefined ? [] : [record.doubled],
      );
      expect(doubled.sort((a, b) => a - b)).toEqual(Array.from({ length: 5_000 }, (_, i) => 2 * i));
      const rings = reports
        .flatMap((report) => report.rings ?? [])
        .filter((path): path is string => typeof path === 'string');
      if (expected === 'shm') {
        expect(rings).toHaveLength(4);
        for (const path of rings) expect(path).toMatch(new RegExp(`^/dev/shm/millrace-${process.pid}-`));
      } else {
        expect(rings).toEqual([]);
      }
      for (const path of rings) expect(existsSync(path)).toBe(false);
      expect(childProcessesOf()).toEqual([]);
    },
  );

  it("a slow runner fills its input ring, then the role's record queue: both show in the role's metrics, as shares of their capacity", async () => {
    const job = new Job({ batchSize: 16, metricsIntervalMs: 50 });
    // A 4 KiB ring holds a few hundred small records; the runner takes one every 2 ms.
    echoCluster(job, {
      count: 1_500,
      transport: createRecordTransport({ capacityBytes: 4_096 }),
      pauseMs: 2,
      queueCapacity: 256,
    });
    const snapshots: { ring?: number; queue?: number }[][] = [];
    job.onEvent((event) => {
      if (event.type !== 'operator-metrics') return;
      const role = event.operators.find((operator) => operator.operator === 'echo-worker')!;
      snapshots.push(
        role.subtasks.map((subtask) => ({
          ring: subtask.gauges.roleInputRingFillRatio,
          queue: subtask.gauges.roleInputQueueFillRatio,
        })),
      );
    });
    const result = await job.execute();
    expect(result.status).toBe('finished');
    const readings = snapshots.flat();
    for (const { ring, queue } of readings) {
      for (const fill of [ring, queue].filter((value) => value !== undefined)) {
        expect(fill).toBeGreaterThanOrEqual(0);
        expect(fill).toBeLessThanOrEqual(1);
      }
    }
    // While the runners were slow, their rings were nearly full and the queues in front of them filled.
    expect(Math.max(...readings.map(({ ring }) => ring ?? 0))).toBeGreaterThan(0.5);
    expect(Math.max(...readings.map(({ queue }) => queue ?? 0))).toBeGreaterThan(0.5);
    // Once the runners ended, their rings are gone and no longer reported.
    const role = result.metrics.find((operator) => operator.operator === 'echo-worker')!;
    for (const subtask of role.subtasks) expect(subtask.gauges.roleInputRingFillRatio).toBeUndefined();
    expect(ringFilesNow()).toEqual([]);
    expect(childProcessesOf()).toEqual([]);
  });

  it('MILLRACE_RECORDS_TRANSPORT=pipes in the NodeAgent environment forces pipes', async () => {
    process.env.MILLRACE_RECORDS_TRANSPORT = 'pipes';
    const job = new Job({ batchSize: 64 });
    const results = echoCluster(job, { count: 100 });
    expect((await job.execute()).status).toBe('finished');
    expect(results.records.filter((r) => r.transport).map((r) => r.transport)).toEqual(['pipes', 'pipes']);
  });

  it('a runner killed by SIGKILL mid-stream fails the node clearly and leaves no ring file or process', async () => {
    const job = new Job({ batchSize: 16 });
    echoCluster(job, { transport: 'shm', killAt: 300 });
    const error = await job.execute().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as Error).message).toMatch(/worker\[\d\].*killed by SIGKILL/s);
    expect(ringFilesNow()).toEqual([]);
    expect(childProcessesOf()).toEqual([]);
  });

  it('examples/stream-to-cluster runs over the ring by default', async () => {
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      for (const path of ringFilesNow()) seen.add(path);
    }, 2);
    const lines: string[] = [];
    try {
      await runJobModule(streamToCluster, {
        args: ['--count', '50000'],
        signal: new AbortController().signal,
        log: (line) => lines.push(line),
      });
    } finally {
      clearInterval(watcher);
    }
    expect(lines.at(-1)).toBe('total 1250025000 = 50000·50001/2 ✓');
    // Each node has an input and an output ring while it runs.
    expect(seen.size).toBeGreaterThan(0);
    expect(ringFilesNow()).toEqual([]);
    expect(childProcessesOf()).toEqual([]);
  });
});
