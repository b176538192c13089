import { fileURLToPath } from 'node:url';
import { DependencyMissingError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { loadOnnxModel } from './onnx-model.js';

// sigmoid(x . [1, -2, 0.5, 3] + 0.25), see fixtures/make-logistic-onnx.py
const logisticModel = fileURLToPath(new URL('../../fixtures/logistic.onnx', import.meta.url));
const expected = (row: number[]) =>
  1 / (1 + Math.exp(-(row[0]! * 1 - row[1]! * 2 + row[2]! * 0.5 + row[3]! * 3 + 0.25)));

describe('loadOnnxModel', () => {
  it('predicts one output row per input row, in order, matching the model', async () => {
    const model = await loadOnnxModel({ model: logisticModel });
    expect([model.inputName, model.outputName]).toEqual(['features', 'probability']);
    const rows = Array.from({ length: 50 }, (_, i) => [i / 10, Math.sin(i), -i / 25, (i % 7) / 7]);
    const predictions = await model.predictBatch(rows);
    expect(predictions).toHaveLength(50);
    predictions.forEach((prediction, index) => {
      expect(prediction).toHaveLength(1);
      expect(prediction[0]).toBeCloseTo(expected(rows[index]!), 5);
    });
    await model.release();
    await expect(model.predictBatch(rows)).rejects.toThrow(/released/);
  });

  it('names the input or output it cannot find, listing what the model has', async () => {
    await expect(loadOnnxModel({ model: logisticModel, inputName: 'pixels' })).rejects.toThrow(
      /inputName: the model has no 'pixels'; it has: features/,
    );
  });

  it('rejects rows of different widths naming the row', async () => {
    const model = await loadOnnxModel({ model: logisticModel });
    await expect(
      model.predictBatch([
        [1, 2, 3, 4],
        [1, 2],
      ]),
    ).rejects.toThrow(/rows\.1: has 2 features/);
    await model.release();
  });

  it('tells the user how to install onnxruntime-node when it is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'onnxruntime-node'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const loading = loadOnnxModel({ model: logisticModel, importOnnxRuntime: () => Promise.reject(missing) });
    await expect(loading).rejects.toSatisfy(
      (error: unknown) =>
        DependencyMissingError.isInstance(error) && /npm install onnxruntime-node/.test(error.message),
    );
  });
});
