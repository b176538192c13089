import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { createFlatOptimizer } from './flat-optimizer.js';
import { createOptimizer, optimizerNames } from './training-options.js';

tf.env().set('PROD', true);

describe('the parameter server optimizers', () => {
  for (const name of optimizerNames) {
    it(`${name} follows tf.train.${name === 'momentum' ? 'momentum(lr, 0.9)' : name} step for step`, async () => {
      await tf.setBackend('cpu');
      const size = 50;
      const initial = Float32Array.from({ length: size }, (_, i) => Math.sin(i));
      const variable = tf.variable(tf.tensor1d(initial), true, `flat-optimizer-check-${name}`);
      const reference = createOptimizer(name, 0.05);
      const flat = createFlatOptimizer(name, 0.05, size);
      const values = Float32Array.from(initial);
      for (let step = 0; step < 20; step++) {
        const gradients = Float32Array.from(
          { length: size },
          (_, i) => Math.cos(i * 0.3 + step) * (1 + step / 10),
        );
        tf.tidy(() => reference.applyGradients([{ name: variable.name, tensor: tf.tensor1d(gradients) }]));
        flat.apply(values, gradients);
      }
      const expected = variable.dataSync();
      for (let i = 0; i < size; i++) expect(values[i]).toBeCloseTo(expected[i]!, 4);
      variable.dispose();
      reference.dispose();
    });
  }
});
