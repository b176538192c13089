/**
 * Replay into TF.js async workers (issue 11): two stream-mode workers and a parameter server
 * train on numbered records; mid-stream, a worker's training process (records in its ring, pushes
 * in flight; worker 1, or worker 0, which writes the checkpoints) or the parameter server is killed
 * with SIGKILL. The model is a tally of the records
 * whose gradients reached the parameter server (fixtures/tensorflow-tally-model.mjs), so the final
 * checkpoint shows every record trained exactly once: a record lost with the dead process's ring,
 * or replayed although the ps already held it, changes the count or the id sum.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterConfigInput } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import {
  createTensorflowEngine,
  latestCheckpoint,
  ParameterServer,
  positionsEveryShardHolds,
  runTrainingNode,
  tensorflowTrainer,
  trainingOptionsSchema,
} from '@millrace/plugin-tensorflow';
import { addAMRole, addRole } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';

const tallyModule = join(import.meta.dirname, 'fixtures', 'tensorflow-tally-model.mjs');
const killAfterVariable = 'TALLY_KILL_AFTER_RECORDS';
const killRoleVariable = 'TALLY_KILL_ROLE';
const killWorkerVariable = 'TALLY_KILL_WORKER';
const tallySplit = 1024;

const directories: string[] = [];
afterEach(() => {
  delete process.env[killAfterVariable];
  delete process.env[killRoleVariable];
  delete process.env[killWorkerVariable];
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** The tally model's trainer: SGD at learning rate 1 keeps the tally exact. */
function tallyTrainer(options: Partial<Parameters<typeof tensorflowTrainer>[0]> = {}) {
  return tensorflowTrainer({
    module: tallyModule,
    batchSize: 32,
    optimizer: 'sgd',
    learningRate: 1,
    loss: 'meanSquaredError',
    checkpointEverySteps: 5,
    backend: 'cpu',
    ...options,
  });
}

/** The tally cluster (async training on a stream) with `roles`, checkpointing in `checkpointDirectory`. */
function addTallyCluster(
  job: Job,
  roles: Record<string, { instances: number }>,
  checkpointDirectory: string,
  restarts: Pick<ClusterConfigInput, 'maxRestarts' | 'restartBackoff'> = {
    maxRestarts: 2,
    restartBackoff: { initialMs: 10, maxMs: 100 },
  },
): void {
  addAMRole(
    job,
    { name: 'tally', engine: 'tensorflow', roles, checkpointDirectory, ...restarts },
    { engine: createTensorflowEngine({ mode: 'stream', training: 'async' }) },
  );
}

/** The tally of a checkpoint, read straight from its weights file (`low` [2] then `high` [1]). */
function tallyOf(checkpointPath: string): { records: number; idSum: number } {
  const bytes = readFileSync(join(checkpointPath, 'weights.bin'));
  const tally = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  expect(tally.length).toBe(3);
  return { records: tally[0]!, idSum: tally[1]! + tally[2]! * tallySplit };
}

/**
 * Runs the tally job on `count` numbered records, killing `victim` once after the worker named by
 * TALLY_KILL_WORKER (default 1) decoded
 * 1,200 records, and checks what a user would: the job finished, the kill happened, records were
 * replayed and none given up, and the final checkpoint holds every record exactly once.
 */
async function trainTallyWithKill(victim: 'worker' | 'ps', parameterServers = 1): Promise<void> {
  const count = 6_000;
  const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-tf-replay-'));
  directories.push(checkpointDirectory);
  const job = new Job({ name: 'tf-replay', batchSize: 128 });
  addTallyCluster(
    job,
    { worker: { instances: 2 }, ps: { instances: parameterServers } },
    checkpointDirectory,
  );
  const trainer = tallyTrainer();
  // No `replay` option: the trainer declares acknowledgesCheckpoints, so replay is on by default.
  addRole(job, 'worker', { instances: 2, input: job.generate((id) => id, { count }), runner: trainer });
  addRole(job, 'ps', { instances: parameterServers, runner: trainer });
  // Training processes inherit this process's environment; the module reads the variables there.
  process.env[killAfterVariable] = '1200';
  process.env[killRoleVariable] = victim;
  const outcome = await job.execute();
  expect(outcome.status).toBe('finished');

  // The kill happened once, and the worker role replayed records to restarted workers.
  expect(readFileSync(join(checkpointDirectory, 'tally-kill-done'), 'utf8')).toMatch(
    new RegExp(`^${victim} \\d+$`),
  );
  const workers = outcome.metrics.find((metrics) => metrics.operator === 'tally-worker')!;
  expect(workers.extra.recordsReplayed).toBeGreaterThan(0);
  expect(workers.extra.recordsNotReplayed ?? 0).toBe(0);

  // Every record in the model exactly once: none lost with the ring, none applied twice.
  const checkpoint = (await latestCheckpoint(checkpointDirectory))!;
  expect(tallyOf(checkpoint.path)).toEqual({ records: count, idSum: (count * (count - 1)) / 2 });
  // The checkpoint records what it holds of each worker's input: together, every record.
  const held = positionsEveryShardHolds(checkpoint.shardPositions!);
  expect(held['worker-0']! + held['worker-1']!).toBe(count);
  expect(childProcessesOf()).toEqual([]);
}

describe('replay into TF.js async workers (real TF.js, real processes)', () => {
  it('kill -9 of a worker mid-stream (restart-one): the checkpoint holds every record exactly once', async () => {
    await trainTallyWithKill('worker');
  }, 180_000);

  it('kill -9 of worker 0, the one that writes checkpoints: every record exactly once', async () => {
    process.env[killWorkerVariable] = '0';
    await trainTallyWithKill('worker');
  }, 180_000);

  it('kill -9 of the parameter server mid-stream (restart-all from the checkpoint): every record exactly once', async () => {
    await trainTallyWithKill('ps');
  }, 180_000);

  it('kill -9 of a worker with two parameter servers: every record exactly once on both shards', async () => {
    await trainTallyWithKill('worker', 2);
  }, 180_000);

  it('a second run of the job on the same checkpoint directory trains its whole input, through a ps restart', async () => {
    // The second run's parameter server starts from the first run's checkpoint (its values), but
    // input positions count each run's own stream: none of the second run's records is skipped,
    // also when the ps is killed before the second run wrote a checkpoint (the restarted ps
    // restores the first run's checkpoint, whose positions must not count in this run).
    const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-tf-rerun-'));
    directories.push(checkpointDirectory);
    const count = 2_000;
    const run = async (killPs: boolean) => {
      if (killPs) {
        process.env[killAfterVariable] = '600';
        process.env[killRoleVariable] = 'ps';
      }
      const job = new Job({ name: 'tf-rerun', batchSize: 128 });
      addTallyCluster(job, { worker: { instances: 2 }, ps: { instances: 1 } }, checkpointDirectory);
      // No checkpoint before the end (63 steps per run): the kill lands before the second run's first.
      const trainer = tallyTrainer({ checkpointEverySteps: 1_000 });
      addRole(job, 'worker', { instances: 2, input: job.generate((id) => id, { count }), runner: trainer });
      addRole(job, 'ps', { instances: 1, runner: trainer });
      expect((await job.execute()).status).toBe('finished');
      return tallyOf((await latestCheckpoint(checkpointDirectory))!.path);
    };
    const idSum = (count * (count - 1)) / 2;
    expect(await run(false)).toEqual({ records: count, idSum });
    expect(await run(true)).toEqual({ records: 2 * count, idSum: 2 * idSum });
    expect(readFileSync(join(checkpointDirectory, 'tally-kill-done'), 'utf8')).toMatch(/^ps \d+$/);
  }, 120_000);

  it('an evaluator reading an input stream holds nothing in its replay buffer (it acknowledges what it reads)', async () => {
    // Replay is on for every role of this runner; an evaluator writes no checkpoints, so a buffer
    // that kept what it read would fill and fail the role after acknowledgeTimeoutMs.
    const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-tf-evaluator-'));
    directories.push(checkpointDirectory);
    const job = new Job({ name: 'tf-evaluator-replay', batchSize: 128 });
    addTallyCluster(
      job,
      { worker: { instances: 1 }, ps: { instances: 1 }, evaluator: { instances: 1 } },
      checkpointDirectory,
      {},
    );
    const trainer = tallyTrainer({ evaluationExamples: 200 });
    addRole(job, 'worker', {
      instances: 1,
      input: job.generate((id) => id, { count: 2_000 }),
      runner: trainer,
    });
    addRole(job, 'ps', { instances: 1, runner: trainer });
    addRole(job, 'evaluator', {
      instances: 1,
      input: job.generate((id) => id, { count: 3_000, name: 'held-out' }),
      runner: trainer,
      replay: { maxRecords: 1_000, acknowledgeTimeoutMs: 2_000 },
    });
    const outcome = await job.execute();
    expect(outcome.status).toBe('finished');
    const checkpoint = (await latestCheckpoint(checkpointDirectory))!;
    expect(tallyOf(checkpoint.path).records).toBe(2_000);
  }, 120_000);

  it('a restarted worker pushes a batch only to the shards that do not hold it yet', async () => {
    // Shards that disagree about what they hold of worker 0 (a push that reached one shard before
    // the worker died; or a checkpoint whose shards were snapshotted a push apart): shard 0 holds
    // records 1 … 64, shard 1 records 1 … 32, and the last acknowledged checkpoint was at 16. The
    // worker runs in this process against two in-process parameter servers.
    const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i - 1);
    const tally = (list: number[]) => ({
      records: list.length,
      low: list.reduce((sum, id) => sum + (id % tallySplit), 0),
      high: list.reduce((sum, id) => sum + Math.floor(id / tallySplit), 0),
    });
    const shard0 = tally(ids(1, 64));
    const shard1 = tally(ids(1, 32));
    const common = { optimizer: 'sgd', learningRate: 1, mode: 'async', replicas: 1, step: 0 } as const;
    const servers = [
      new ParameterServer({
        ...common,
        values: [Float32Array.of(shard0.records, shard0.low)],
        shapes: [[2]],
        fingerprint: '[2],[1]',
        shard: 0,
        positions: { 'worker-0': 64 },
      }),
      new ParameterServer({
        ...common,
        values: [Float32Array.of(shard1.high)],
        shapes: [[1]],
        fingerprint: '[2],[1]',
        shard: 1,
        positions: { 'worker-0': 32 },
      }),
    ];
    const ports = await Promise.all(servers.map((server) => server.listen(0, '127.0.0.1')));
    const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-tf-shards-'));
    directories.push(checkpointDirectory);
    try {
      const total = 2_000; // ids 0 … 1999 at positions 1 … 2000; this start reads 17 … 2000
      const encoder = new TextEncoder();
      const records = ids(17, total).map((id) => encoder.encode(String(id)));
      let next = 0;
      const acknowledged: number[] = [];
      const silent = () => {};
      await runTrainingNode(
        trainingOptionsSchema.parse({
          module: tallyModule,
          batchSize: 24,
          optimizer: 'sgd',
          learningRate: 1,
          loss: 'meanSquaredError',
          checkpointEverySteps: 10,
          backend: 'cpu',
        }),
        {
          role: 'worker',
          index: 0,
          clusterSpec: {
            jobName: 'shards',
            generation: 0,
            roles: {
              worker: [{ role: 'worker', index: 0, host: '127.0.0.1', ports: {} }],
              ps: ports.map((port, index) => ({
                role: 'ps',
                index,
                host: '127.0.0.1',
                ports: { grpc: port },
              })),
            },
          },
          checkpointDirectory,
          training: 'async',
          resumePosition: 16,
          checkpointed: (position) => acknowledged.push(position),
          input: {
            readBatch: async (maxRecords) => {
              if (next >= records.length) return null;
              const batch = records.slice(next, next + maxRecords);
              next += batch.length;
              return batch;
            },
            async *[Symbol.asyncIterator]() {
              yield* records;
            },
          },
          metrics: { report: silent },
          logger: { debug: silent, info: silent, warn: silent, error: silent },
          signal: new AbortController().signal,
        },
      );
      const all = tally(ids(1, total));
      expect(Array.from(servers[0]!.values())).toEqual([all.records, all.low]);
      expect(Array.from(servers[1]!.values())).toEqual([all.high]);
      expect(servers.map((server) => server.positions())).toEqual([
        { 'worker-0': total },
        { 'worker-0': total },
      ]);
      // Acknowledgements only ever covered what a durable checkpoint held, and only grew.
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(acknowledged).toEqual([...acknowledged].sort((a, b) => a - b));
      expect(Math.max(...acknowledged)).toBeLessThanOrEqual(total);
      const checkpoint = (await latestCheckpoint(checkpointDirectory))!;
      expect(checkpoint.shardPositions).toEqual([{ 'worker-0': total }, { 'worker-0': total }]);
      expect(tallyOf(checkpoint.path)).toEqual({
        records: all.records,
        idSum: all.low + all.high * tallySplit,
      });
    } finally {
      await Promise.all(servers.map((server) => server.close()));
    }
  }, 120_000);
});
