import { describe, expect, it } from 'vitest';
import { torchPredictionRunner } from './torch-prediction-runner.js';

describe('torchPredictionRunner follow options', () => {
  it('names every bad follow option before anything starts', () => {
    expect(() =>
      torchPredictionRunner({
        model: 'model.py:load',
        follow: { directory: '', policy: { everyVersions: 0 }, gate: 'no-function', pollMs: 0 },
      }),
    ).toThrow(
      /follow\.directory: must be the checkpoint directory.*follow\.policy\.everyVersions: must be a positive integer, got 0.*follow\.gate: 'no-function' must look like 'file\.py:function'.*follow\.pollMs: must be a positive integer, got 0/s,
    );
  });
});
