/**
 * The parameter server's optimizers: TF.js's `tf.train.*` update rules, written as one loop over
 * the shard's flat Float32Array. A parameter server applies one small update per push; as TF.js
 * kernels that is ~a dozen kernel launches per variable (a millisecond of overhead per step on a
 * small model, which on 2 cores the workers would pay for), as a loop it is microseconds. The
 * rules and defaults are TF.js 4.22's (checked against `tf.train.*` in flat-optimizer.test.ts).
 */
import type { TrainingOptions } from './training-options.js';

/** TF.js's float32 epsilon (`backend.epsilon()`), the default of every optimizer below. */
const epsilon = 1e-7;

export interface FlatOptimizer {
  /** Updates `values` in place with `gradients` (same length). */
  apply(values: Float32Array, gradients: Float32Array): void;
}

export function createFlatOptimizer(
  name: TrainingOptions['optimizer'],
  learningRate: number,
  size: number,
): FlatOptimizer {
  switch (name) {
    case 'sgd':
      return {
        apply(values, gradients) {
          for (let i = 0; i < size; i++) values[i]! -= learningRate * gradients[i]!;
        },
      };
    case 'momentum': {
      // tf.train.momentum(learningRate, 0.9): accumulation = m·accumulation + g; value -= lr·accumulation
      const momentum = 0.9;
      const accumulation = new Float32Array(size);
      return {
        apply(values, gradients) {
          for (let i = 0; i < size; i++) {
            const next = momentum * accumulation[i]! + gradients[i]!;
            accumulation[i] = next;
            values[i]! -= learningRate * next;
          }
        },
      };
    }
    case 'adam': {
      // tf.train.adam(learningRate) with beta1 0.9, beta2 0.999.
      const beta1 = 0.9;
      const beta2 = 0.999;
      const first = new Float32Array(size);
      const second = new Float32Array(size);
      let accumulatedBeta1 = beta1;
      let accumulatedBeta2 = beta2;
      return {
        apply(values, gradients) {
          const correction1 = 1 - accumulatedBeta1;
          const correction2 = 1 - accumulatedBeta2;
          for (let i = 0; i < size; i++) {
            const gradient = gradients[i]!;
            const m = beta1 * first[i]! + (1 - beta1) * gradient;
            const v = beta2 * second[i]! + (1 - beta2) * gradient * gradient;
            first[i] = m;
            second[i] = v;
            values[i]! -= (learningRate * (m / correction1)) / (Math.sqrt(v / correction2) + epsilon);
          }
          accumulatedBeta1 *= beta1;
          accumulatedBeta2 *= beta2;
        },
      };
    }
    case 'rmsprop': {
      // tf.train.rmsprop(learningRate): decay 0.9, momentum 0, not centered.
      const decay = 0.9;
      const meanSquare = new Float32Array(size);
      return {
        apply(values, gradients) {
          for (let i = 0; i < size; i++) {
            const gradient = gradients[i]!;
            const next = decay * meanSquare[i]! + (1 - decay) * gradient * gradient;
            meanSquare[i] = next;
            values[i]! -= (learningRate * gradient) / Math.sqrt(next + epsilon);
          }
        },
      };
    }
    case 'adagrad': {
      // tf.train.adagrad(learningRate): accumulators start at 0.1.
      const accumulated = new Float32Array(size).fill(0.1);
      return {
        apply(values, gradients) {
          for (let i = 0; i < size; i++) {
            const gradient = gradients[i]!;
            const next = accumulated[i]! + gradient * gradient;
            accumulated[i] = next;
            values[i]! -= (learningRate * gradient) / Math.sqrt(next + epsilon);
          }
        },
      };
    }
  }
}
