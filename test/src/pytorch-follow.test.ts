/**
 * A torch prediction role (real Python, real torch, records through the shared-memory rings)
 * follows the model versions `millrace_torch.save_checkpoint` publishes while the stream runs:
 * every record is scored exactly once, by versions that only grow, each score is what the version
 * it names computes, and a corrupt and an incompatible version are refused while the serving
 * version keeps serving.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TensorFrame } from '@millrace/bridge-shm';
import { Job } from '@millrace/dataflow';
import {
  int32Scalar,
  pytorch,
  pytorchPythonDirectory,
  type TorchPrediction,
  tensorFrame,
  torchPredictionCodec,
  torchPredictionRunner,
} from '@millrace/plugin-pytorch';
import { addAMRole, addRole } from '@millrace/runtime';
import { childProcessesOf } from '@millrace/runtime/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, hasTorch, scratchDirectory, torchPython } from './pytorch-support.js';

const run = promisify(execFile);
const scratch = scratchDirectory('torch-follow');
afterAll(() => scratch.remove());

const featuresOf = (id: number) => [Math.sin(id), Math.cos(id / 3), (id % 7) / 7, 0.5];
const weights: Record<number, number[]> = {
  1: [1, -2, 0.5, 3, 0.25],
  4: [-1, 1, 2, -0.5, -0.1],
};

describe.skipIf(!hasTorch)('torchPredictionRunner following published versions (real torch)', () => {
  it('swaps versions between batches: every record once, versions only grow, bad versions refused', async () => {
    const checkpoints = scratch.path;
    const publish = (kind: string, values: number[] = []) =>
      run(torchPython, [fixture('follow_model.py'), checkpoints, kind, ...values.map(String)], {
        env: { ...process.env, PYTHONPATH: pytorchPythonDirectory(), OMP_NUM_THREADS: '1' },
        timeout: 120_000,
      });
    const scored: TorchPrediction[] = [];
    const stderr: string[] = [];
    const served = (version: number) => scored.some((record) => record.model_version === version);
    const refused = (version: number) => stderr.some((line) => line.includes(`Model version ${version} `));
    let next = 0;
    async function* frames() {
      const some = function* (count: number) {
        for (let n = 0; n < count; n++) {
          const id = next++;
          yield tensorFrame({ id: int32Scalar(id), features: featuresOf(id) });
        }
      };
      // Each step: publish, then keep the stream going (slowly) until the role served or refused it.
      const steps: [string, number[], number, (version: number) => boolean][] = [
        ['good', weights[1]!, 1, served],
        ['corrupt', [], 2, refused],
        ['wide', [], 3, refused],
        ['good', weights[4]!, 4, served],
      ];
      yield* some(300);
      for (const [kind, values, version, handled] of steps) {
        await publish(kind, values);
        const deadline = Date.now() + 90_000;
        while (!handled(version)) {
          if (Date.now() > deadline) throw new Error(`version ${version} was neither served nor refused`);
          yield* some(5);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        yield* some(200);
      }
    }

    const job = new Job({ batchSize: 32, lingerMs: 5 });
    addAMRole(
      job,
      { name: 'torch-follow', engine: 'pytorch', roles: { worker: { instances: 1 } } },
      { engine: pytorch },
    );
    addRole<TensorFrame | TorchPrediction, TorchPrediction>(job, 'worker', {
      instances: 1,
      input: job.fromIterable<TensorFrame | TorchPrediction>(frames, { name: 'frames' }),
      codec: torchPredictionCodec,
      runner: torchPredictionRunner({
        model: `${fixture('follow_model.py')}:load`,
        python: torchPython,
        batchSize: 16,
        follow: { directory: checkpoints, pollMs: 20 },
        output: (line, stream) => {
          if (stream === 'stderr') stderr.push(line);
        },
      }),
    }).forEach((record) => {
      scored.push(record);
    });
    const outcome = await job.execute();
    expect(outcome.status).toBe('finished');

    // Every record exactly once, in order (one node, one partition).
    expect(scored.map((record) => record.id)).toEqual(Array.from({ length: next }, (_, id) => id));
    const versions = scored.map((record) => (record.model_version as number | null) ?? 0);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions)).toEqual(new Set([0, 1, 4]));
    for (const record of scored) {
      const [w0, w1, w2, w3, b] = weights[record.model_version as number] ?? [0, 0, 0, 0, 0];
      const x = featuresOf(record.id as number);
      expect(record.prediction[0]).toBeCloseTo(w0! * x[0]! + w1! * x[1]! + w2! * x[2]! + w3! * x[3]! + b!, 4);
    }
    const refusals = stderr.filter((line) => line.includes('was refused'));
    expect(refusals).toEqual([
      expect.stringMatching(/Model version 2 .*refused \(unreadable\).*previous version keeps serving/),
      expect.stringMatching(/Model version 3 .*refused \(incompatible\).*size mismatch/),
    ]);
    expect(childProcessesOf()).toEqual([]);
  }, 240_000);
});
