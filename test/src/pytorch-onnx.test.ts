/**
 * A torch model exported with torch.onnx.export predicts the same in the pipeline's process
 * (predictWithOnnx, onnxruntime-node) as in torch.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Job } from '@millrace/dataflow';
import { predictWithOnnx } from '@millrace/plugin-pytorch';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, hasTorch, scratchDirectory, torchPython } from './pytorch-support.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe.skipIf(!hasTorch)('ONNX prediction in process matches torch', () => {
  it('predictWithOnnx gives torch outputs (3 per row) for 257 rows, in any partitioning', async () => {
    const scratch = scratchDirectory('pytorch-onnx');
    cleanups.push(scratch.remove);
    const exported = spawnSync(torchPython, [fixture('export_reference.py'), scratch.path], {
      encoding: 'utf8',
    });
    expect(exported.status, exported.stderr).toBe(0);
    const reference = JSON.parse(readFileSync(join(scratch.path, 'reference.json'), 'utf8')) as {
      inputs: number[][];
      outputs: number[][];
    };

    const job = new Job({ name: 'onnx-vs-torch', batchSize: 50 });
    const predictions = job
      .fromIterable(reference.inputs.map((x, row) => ({ row, x })))
      .transform(
        predictWithOnnx({
          model: join(scratch.path, 'model.onnx'),
          features: (record: { row: number; x: number[] }) => record.x,
          result: (record, y) => ({ row: record.row, y: Array.from(y) }),
          maxBatchSize: 32,
        }),
        { name: 'onnx', parallelism: 2 },
      )
      .collect();
    await job.execute();

    expect(predictions.records).toHaveLength(reference.inputs.length);
    for (const { row, y } of predictions.records) {
      const expected = reference.outputs[row]!;
      expect(y).toHaveLength(3);
      y.forEach((value, column) => {
        expect(Math.abs(value - expected[column]!)).toBeLessThan(1e-5);
      });
    }
  }, 60_000);
});
