/**
 * The pytorch-stream-train example end to end, with real torch: 2 DDP workers train in stream
 * mode on the click stream (uneven partitions, DDP join), the model is exported to ONNX, and the
 * held-out predictions of the Python prediction role and the in-process ONNX operator agree.
 */

import { describe, expect, it } from 'vitest';
import {
  qualityProblems,
  statedQuality,
  trainAndPredict,
} from '../../examples/pytorch-stream-train/src/pipeline.mjs';
import { hasTorch, torchPython } from './pytorch-support.js';

describe.skipIf(!hasTorch)('examples/pytorch-stream-train (real torch)', () => {
  it('2 DDP workers converge on the stream, and ONNX in process matches torch', async () => {
    const result = await trainAndPredict({
      seed: 7,
      trainingImpressions: 8_000,
      heldOutImpressions: 2_000,
      python: torchPython,
      workerOutput: 'ignore',
    });
    // Both workers trained on their own partition of the stream.
    expect(Object.keys(result.trainingMetrics).sort()).toEqual(['0', '1']);
    for (const metrics of Object.values(result.trainingMetrics)) expect(metrics.step).toBeGreaterThan(10);
    expect(result.restarts).toBe(0);
    // One torch prediction per held-out record, agreeing with ONNX.
    expect(result.torchPredictions).toBe(2_000);
    expect(result.maxTorchOnnxDifference).toBeLessThanOrEqual(statedQuality.torchOnnxTolerance);
    // The stated quality: near the oracle (the ground truth's own accuracy and AUC).
    expect(qualityProblems(result)).toEqual([]);
    expect(result.auc).toBeGreaterThan(0.85);
  }, 120_000);
});
