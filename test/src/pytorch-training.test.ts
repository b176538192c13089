/**
 * Real torch.distributed under Millrace: a torchrun script unmodified, a Python error reported
 * with its traceback, and failover after `kill -9` of a worker resuming from the last checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ClusterObservation, type JobFailedError, MillraceError } from '@millrace/core';
import { pytorch, torchRunner } from '@millrace/plugin-pytorch';
import { launchLocalCluster } from '@millrace/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, hasTorch, scratchDirectory, torchPython } from './pytorch-support.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function checkpointDirectory(): string {
  const scratch = scratchDirectory('pytorch-training');
  cleanups.push(scratch.remove);
  return scratch.path;
}

const config = (name: string, maxRestarts: number, checkpoint?: string) => ({
  name,
  engine: 'pytorch',
  roles: { worker: { instances: 2 } },
  maxRestarts,
  restartBackoff: { initialMs: 50, maxMs: 200 },
  heartbeat: { intervalMs: 250, missedLimit: 20 },
  stopGracePeriodMs: 3_000,
  ...(checkpoint ? { checkpointDirectory: checkpoint } : {}),
});

describe.skipIf(!hasTorch)('pytorch training under Millrace (real torch, gloo)', () => {
  it('runs an unmodified torchrun script: env:// rendezvous, all_reduce across 2 workers', async () => {
    const lines: string[] = [];
    const cluster = launchLocalCluster({
      engine: pytorch,
      config: config('torchrun-script', 0),
      runnerFor: () =>
        torchRunner({
          script: fixture('torchrun_allreduce.py'),
          python: torchPython,
          output: (line, _stream, context) => lines.push(`[rank ${context.environment.RANK}] ${line}`),
        }),
    });
    const outcome = await cluster.result;
    expect(outcome.status, outcome.reason).toBe('succeeded');
    expect(lines).toEqual(
      expect.arrayContaining([
        '[rank 0] rank 0 of 2 (local rank 0): sum of ranks+1 = 3',
        '[rank 1] rank 1 of 2 (local rank 1): sum of ranks+1 = 3',
      ]),
    );
  }, 60_000);

  it('fails the job past maxRestarts, naming the worker and carrying the Python traceback', async () => {
    const cluster = launchLocalCluster({
      engine: pytorch,
      config: config('failing-shard', 1),
      runnerFor: () =>
        torchRunner({
          script: fixture('fail_on_rank.py'),
          python: torchPython,
          env: { FAIL_RANK: '1' },
          output: 'ignore',
          gracePeriodMs: 2_000,
        }),
    });
    const outcome = await cluster.result;
    expect(outcome.status).toBe('failed');
    expect(outcome.restarts).toBe(1);
    expect(MillraceError.isInstance(outcome.error) && outcome.error.code).toBe('JOB_FAILED');
    const error = outcome.error as JobFailedError;
    expect(error.message).toContain('worker[1]');
    expect(error.message).toMatch(/Traceback \(most recent call last\)/);
    expect(error.message).toContain('ValueError: shard 1 is corrupt: expected 8 features, found 7');
    expect(error.message).toContain('in load_shard');
  }, 90_000);

  it('survives kill -9 of a worker: restarts all from the last checkpoint and still converges', async () => {
    const directory = checkpointDirectory();
    const cluster = launchLocalCluster({
      engine: pytorch,
      config: config('kill-nine', 2, directory),
      runnerFor: () =>
        torchRunner({
          entry: `${fixture('ddp_checkpointed.py')}:main`,
          python: torchPython,
          env: { STEPS: '120', CHECKPOINT_EVERY: '10', STEP_DELAY_MS: '25' },
          output: 'ignore',
          gracePeriodMs: 2_000,
        }),
    });
    // Kill worker 1 once the first attempt has checkpointed past step 30.
    const progressed = (o: ClusterObservation) =>
      o.type === 'node-metrics' && o.index === 1 && (o.metrics.step ?? 0) >= 35;
    await cluster.waitFor(progressed, 60_000);
    const pidFile = join(directory, 'pid-rank1-attempt0');
    expect(existsSync(pidFile)).toBe(true);
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');

    const outcome = await cluster.result;
    expect(outcome.status, outcome.reason).toBe('succeeded');
    expect(outcome.restarts).toBe(1);
    expect(outcome.failures.some((f) => f.role === 'worker' && f.index === 1 && f.signal === 'SIGKILL')).toBe(
      true,
    );
    const result = JSON.parse(readFileSync(join(directory, 'result.json'), 'utf8'));
    expect(result.attempt).toBe(1);
    // Resumed from a checkpoint, not from zero: at least the step-30 one, before the kill at ≥ 35.
    expect(result.resumed_from).toBeGreaterThanOrEqual(30);
    expect(result.resumed_from % 10).toBe(0);
    expect(result.final_step).toBe(120);
    // Converged: within 3 points of what the ground truth itself achieves on held-out data.
    expect(result.accuracy).toBeGreaterThan(result.bayes_accuracy - 0.03);
  }, 120_000);
});
