/**
 * Options of TensorFlow.js parameter-server training, shared by the runner (validated there) and
 * the training processes it starts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { inputTransportOptions } from './ring-input.js';

export const optimizerNames = ['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad'] as const;
export const lossNames = ['binaryCrossentropy', 'meanSquaredError', 'categoricalCrossentropy'] as const;

export const trainingOptionsSchema = z
  .object({
    /**
     * Path or `file:` URL of the module that defines the model. It exports `createModel()` returning
     * a tfjs-layers model (or `modelDirectory`, a saved model to start from), and optionally
     * `decodeExample(record)` and `trainingBatches(context)`; see {@link TrainingModule}.
     */
    module: z.string().min(1),
    /** Examples per gradient step on each worker; one network round trip per step. */
    batchSize: z.number().int().positive().default(256),
    /** Optimizer the parameter servers apply gradients with. */
    optimizer: z.enum(optimizerNames).default('adam'),
    /** Learning rate of the optimizer. */
    learningRate: z.number().positive().default(0.01),
    /** Loss the workers differentiate; the model's output must match it (sigmoid for binary). */
    loss: z.enum(lossNames).default('binaryCrossentropy'),
    /** The saving worker (chief, else worker 0) writes a checkpoint every this many global steps, and at the end. */
    checkpointEverySteps: z.number().int().positive().default(50),
    /**
     * Async mode: gradient pushes a worker may have on the wire while it computes the next ones.
     * More hides more network and scheduling latency, at the price of staler gradients.
     */
    pushesInFlight: z.number().int().min(1).max(8).default(4),
    /** Stop after this many steps on each worker even if input remains (0: run to end of input). */
    maxStepsPerWorker: z.number().int().min(0).default(0),
    /** TensorFlow.js backend of the training processes; wasm is 2-3× faster than cpu here, cpu is the fallback. */
    backend: z.enum(['wasm', 'cpu']).default('wasm'),
    /** How long a worker keeps retrying to reach a parameter server before it fails. */
    connectTimeoutMs: z.number().int().positive().default(30_000),
    ...inputTransportOptions,
    /** A stream-mode evaluator holds out this many of its first input records. */
    evaluationExamples: z.number().int().positive().default(2_000),
    /** Extra values handed to the module's hooks (e.g. a dataset seed). */
    moduleOptions: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type TrainingOptionsInput = z.input<typeof trainingOptionsSchema>;
export type TrainingOptions = z.output<typeof trainingOptionsSchema>;

export function createOptimizer(name: TrainingOptions['optimizer'], learningRate: number): tf.Optimizer {
  switch (name) {
    case 'sgd':
      return tf.train.sgd(learningRate);
    case 'momentum':
      return tf.train.momentum(learningRate, 0.9);
    case 'adam':
      return tf.train.adam(learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(learningRate);
    case 'adagrad':
      return tf.train.adagrad(learningRate);
  }
}

/** The loss as a scalar tensor of (labels, predictions). */
export function lossFunction(
  name: TrainingOptions['loss'],
): (labels: tf.Tensor, predictions: tf.Tensor) => tf.Scalar {
  switch (name) {
    case 'binaryCrossentropy':
      return (labels, predictions) => tf.losses.logLoss(labels, predictions, undefined, 1e-7) as tf.Scalar;
    case 'meanSquaredError':
      return (labels, predictions) => tf.losses.meanSquaredError(labels, predictions) as tf.Scalar;
    case 'categoricalCrossentropy':
      return (labels, predictions) =>
        tf.tidy(() =>
          tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.log(tf.clipByValue(predictions, 1e-7, 1))), -1))),
        );
  }
}
