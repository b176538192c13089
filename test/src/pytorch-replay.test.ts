/**
 * Replay with real torch (issue 11): two stream-mode torch workers train on numbered records and
 * checkpoint through millrace_torch (which stores the input position and acknowledges it);
 * worker 0 is killed with SIGKILL mid-stream on its first attempt. The totals kept inside the
 * model checkpoints (records trained, sum of their ids) prove every record trained exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from '@millrace/dataflow';
import { pytorch, torchRunner } from '@millrace/plugin-pytorch';
import { addAMRole, addRole } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { describe, expect, it } from 'vitest';
import { fixture, hasTorch, torchPython } from './pytorch-support.js';

interface Totals {
  index: number;
  attempt: number;
  resume_position: number;
  resumed_at: number;
  count: number;
  id_sum: number;
  position: number;
}

/** One run of the two-worker job on `count` numbered records; each worker's last report. */
async function trainNumbers(options: {
  count: number;
  env: Record<string, string>;
  checkpointDirectory?: string;
}) {
  const job = new Job({ batchSize: 256 });
  addAMRole(
    job,
    {
      name: 'torch-replay',
      engine: 'pytorch',
      roles: { worker: { instances: 2 } },
      maxRestarts: 2,
      restartBackoff: { initialMs: 10, maxMs: 100 },
      checkpointDirectory: options.checkpointDirectory,
    },
    { engine: pytorch },
  );
  const totals = addRole<number, Totals>(job, 'worker', {
    instances: 2,
    input: job.generate((id) => id, { count: options.count }),
    runner: torchRunner({
      entry: `${fixture('stream_exactly_once.py')}:main`,
      python: torchPython,
      inputCodec: 'json',
      output: 'ignore',
      env: { CHECKPOINT_EVERY: '10', BATCH: '64', ...options.env },
    }),
    replay: true,
  }).collect();
  const outcome = await job.execute();
  expect(outcome.status).toBe('finished');
  // The last attempt of each worker reports its checkpoint's totals.
  const last = new Map<number, Totals>();
  for (const record of totals.records) {
    if ((last.get(record.index)?.attempt ?? -1) < record.attempt) last.set(record.index, record);
  }
  return { outcome, worker0: last.get(0)!, worker1: last.get(1)! };
}

describe.skipIf(!hasTorch)('replay into torch stream-mode workers (real torch)', () => {
  it('kill -9 of a worker mid-stream: the checkpoints hold every record exactly once', async () => {
    const count = 12_000;
    const { outcome, worker0, worker1 } = await trainNumbers({ count, env: { KILL_AFTER: '2000' } });
    expect(worker0.attempt).toBeGreaterThanOrEqual(1); // killed and restarted (restart-all: both were)
    expect(worker0.resumed_at).toBeGreaterThan(0); // resumed from its checkpoint, not from the start
    expect(worker0.count + worker1.count).toBe(count);
    expect(worker0.id_sum + worker1.id_sum).toBe((count * (count - 1)) / 2);
    const role = outcome.metrics.find((metrics) => metrics.operator === 'torch-replay-worker')!;
    expect(role.extra.recordsReplayed).toBeGreaterThan(0);
    expect(childProcessesOf()).toEqual([]);
  }, 120_000);

  it("a second run on the same checkpoint directory trains all of its records: the first run's position is not its", async () => {
    const count = 4_000;
    const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-torch-rerun-'));
    try {
      const first = await trainNumbers({ count, env: {}, checkpointDirectory });
      expect(first.worker0.count + first.worker1.count).toBe(count);
      // The model goes on from the first run's checkpoint; the input starts at its beginning.
      const second = await trainNumbers({ count, env: {}, checkpointDirectory });
      expect(second.worker0.resumed_at).toBe(0);
      expect(second.worker0.count + second.worker1.count).toBe(2 * count);
      expect(second.worker0.id_sum + second.worker1.id_sum).toBe(count * (count - 1));
    } finally {
      rmSync(checkpointDirectory, { recursive: true, force: true });
    }
  }, 120_000);
});
