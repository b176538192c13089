/**
 * Replay into TF.js async workers (issue 11): two stream-mode workers and a parameter server
 * train on numbered records; mid-stream, worker 1's training process (records in its ring, pushes
 * in flight) or the parameter server is killed with SIGKILL. The model is a tally of the records
 * whose gradients reached the parameter server (fixtures/tensorflow-tally-model.mjs), so the final
 * checkpoint shows every record trained exactly once: a record lost with the dead process's ring,
 * or replayed although the ps already held it, changes the count or the id sum.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from '@millrace/dataflow';
import { createTensorflowEngine, latestCheckpoint, tensorflowTrainer } from '@millrace/plugin-tensorflow';
import { addAMRole, addRole } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { afterEach, describe, expect, it } from 'vitest';

const tallyModule = join(import.meta.dirname, 'fixtures', 'tensorflow-tally-model.mjs');
const killAfterVariable = 'TALLY_KILL_AFTER_RECORDS';
const killRoleVariable = 'TALLY_KILL_ROLE';
const tallySplit = 1024;

const directories: string[] = [];
afterEach(() => {
  delete process.env[killAfterVariable];
  delete process.env[killRoleVariable];
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** The tally variable of a checkpoint, read straight from its weights file (one float32 [3]). */
function tallyOf(checkpointPath: string): { records: number; idSum: number } {
  const bytes = readFileSync(join(checkpointPath, 'weights.bin'));
  const tally = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  expect(tally.length).toBe(3);
  return { records: tally[0]!, idSum: tally[1]! + tally[2]! * tallySplit };
}

/**
 * Runs the tally job on `count` numbered records, killing `victim` once after worker 1 decoded
 * 1,200 records, and checks what a user would: the job finished, the kill happened, records were
 * replayed and none given up, and the final checkpoint holds every record exactly once.
 */
async function trainTallyWithKill(victim: 'worker' | 'ps'): Promise<void> {
  const count = 6_000;
  const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-tf-replay-'));
  directories.push(checkpointDirectory);
  const job = new Job({ name: 'tf-replay', batchSize: 128 });
  addAMRole(
    job,
    {
      name: 'tally',
      engine: 'tensorflow',
      roles: { worker: { instances: 2 }, ps: { instances: 1 } },
      checkpointDirectory,
      maxRestarts: 2,
      restartBackoff: { initialMs: 10, maxMs: 100 },
    },
    { engine: createTensorflowEngine({ mode: 'stream', training: 'async' }) },
  );
  const trainer = tensorflowTrainer({
    module: tallyModule,
    batchSize: 32,
    optimizer: 'sgd',
    learningRate: 1,
    loss: 'meanSquaredError',
    checkpointEverySteps: 5,
    backend: 'cpu',
  });
  // No `replay` option: the trainer declares acknowledgesCheckpoints, so replay is on by default.
  addRole(job, 'worker', { instances: 2, input: job.generate((id) => id, { count }), runner: trainer });
  addRole(job, 'ps', { instances: 1, runner: trainer });
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
  const positions = checkpoint.shardPositions![0]!;
  expect(positions['worker-0']! + positions['worker-1']!).toBe(count);
  expect(childProcessesOf()).toEqual([]);
}

describe('replay into TF.js async workers (real TF.js, real processes)', () => {
  it('kill -9 of a worker mid-stream (restart-one): the checkpoint holds every record exactly once', async () => {
    await trainTallyWithKill('worker');
  }, 180_000);

  it('kill -9 of the parameter server mid-stream (restart-all from the checkpoint): every record exactly once', async () => {
    await trainTallyWithKill('ps');
  }, 180_000);
});
