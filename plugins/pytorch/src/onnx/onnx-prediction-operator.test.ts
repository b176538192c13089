import { fileURLToPath } from 'node:url';
import { Job } from '@millrace/dataflow';
import { describe, expect, it } from 'vitest';
import { predictWithOnnx } from './onnx-prediction-operator.js';

// sigmoid(x . [1, -2, 0.5, 3] + 0.25), see fixtures/make-logistic-onnx.py
const logisticModel = fileURLToPath(new URL('../../fixtures/logistic.onnx', import.meta.url));
const expected = (x: number[]) => 1 / (1 + Math.exp(-(x[0]! - 2 * x[1]! + 0.5 * x[2]! + 3 * x[3]! + 0.25)));

describe('predictWithOnnx', () => {
  it('emits exactly one prediction per record across parallel subtasks, matching the model', async () => {
    const job = new Job({ name: 'onnx-prediction' });
    const records = Array.from({ length: 3_000 }, (_, id) => ({
      id,
      x: [id / 1000, Math.cos(id), -1, (id % 5) / 5],
    }));
    const predicted = job
      .fromIterable(records)
      .transform(
        predictWithOnnx({
          model: logisticModel,
          features: (record: { id: number; x: number[] }) => record.x,
          result: (record, [probability]) => ({ id: record.id, probability: probability! }),
          maxBatchSize: 256,
        }),
        { name: 'predict', parallelism: 2 },
      )
      .collect();
    await job.execute();
    const results = predicted.records;
    expect(results).toHaveLength(records.length);
    for (const { id, probability } of results) expect(probability).toBeCloseTo(expected(records[id]!.x), 5);
    expect(new Set(results.map((r) => r.id)).size).toBe(records.length);
  });

  it('rejects a bad maxBatchSize before the job starts', () => {
    expect(() => predictWithOnnx({ model: logisticModel, features: () => [], maxBatchSize: 0 })).toThrow(
      /predictWithOnnx options\.maxBatchSize: must be a positive integer/,
    );
  });
});
