import { join } from 'node:path';
import { Job } from '@millrace/dataflow';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, examples } from './fixtures/clicks-model.mjs';
import { temporaryDirectory } from './fixtures/local-nodes.js';
import { loadLayersModelFrom, saveModelTo } from './model-io.js';
import { predictWithTensorflow } from './prediction-operator.js';

// PROD skips debug checks and the tfjs-node advert, as the library does in useBackend().
tf.env().set('PROD', true);

const directory = temporaryDirectory();
afterAll(() => directory.remove());

interface Row {
  id: number;
  features: number[];
}

describe('predictWithTensorflow', () => {
  it('emits, for every record, what model.predict gives on the same inputs', async () => {
    await tf.setBackend('cpu');
    const modelDirectory = join(directory.path, 'model');
    await saveModelTo(createModel(), modelDirectory);
    const data = examples(11, 700);
    const rows: Row[] = Array.from({ length: data.count }, (_, id) => ({
      id,
      features: Array.from(data.features.subarray(id * 8, id * 8 + 8)),
    }));

    const job = new Job({ name: 'predict-test', batchSize: 128 });
    const scored = job
      .fromIterable(rows)
      .transform(
        predictWithTensorflow<Row, { id: number; probability: number }>({
          modelDirectory,
          features: (row) => row.features,
          result: (row, prediction) => ({ id: row.id, probability: prediction[0]! }),
          maxBatchSize: 100,
        }),
        { name: 'predict', parallelism: 2 },
      )
      .collect();
    expect((await job.execute()).status).toBe('finished');

    const reference = await loadLayersModelFrom(modelDirectory);
    const expected = tf.tidy(() =>
      (reference.predict(tf.tensor2d(data.features, [700, 8])) as tf.Tensor).dataSync(),
    );
    const byId = [...scored.records].sort((a, b) => a.id - b.id);
    expect(byId).toHaveLength(700);
    byId.forEach((row, id) => {
      expect(row.id).toBe(id);
      expect(row.probability).toBeCloseTo(expected[id]!, 5);
    });
  });

  it('fails the job with a clear error when the model directory is missing', async () => {
    const job = new Job({ name: 'predict-missing' });
    job
      .fromIterable([{ id: 0, features: [0, 0, 0, 0, 0, 0, 0, 0] }])
      .transform(
        predictWithTensorflow<Row>({
          modelDirectory: join(directory.path, 'absent'),
          features: (r) => r.features,
        }),
      )
      .collect();
    await expect(job.execute()).rejects.toThrow(/absent: the directory does not exist/);
  });
});
