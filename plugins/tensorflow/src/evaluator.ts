/**
 * The evaluator role: a side-car that watches the checkpoint directory and, for each new
 * checkpoint, reports the model's loss (and accuracy, for a single sigmoid output) on a held-out
 * set, until the job stops it. The held-out set is the module's `evaluationBatches()` or, for a
 * stream-mode evaluator, the first `evaluationExamples` records of its input.
 */
import { ConfigError } from '@millrace/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { latestCheckpoint, loadLayersModelFrom } from './model-io.js';
import {
  type Batch,
  batchesFromInput,
  defaultDecodeExample,
  type TrainingModule,
} from './training-module.js';
import type { TrainingNodeContext } from './training-node.js';
import { lossFunction, type TrainingOptions } from './training-options.js';

const pollMs = 500;

export async function runEvaluator(
  options: TrainingOptions,
  context: TrainingNodeContext,
  model: tfl.LayersModel,
  module: TrainingModule,
): Promise<void> {
  const featureShape = model.inputs[0]!.shape.slice(1) as number[];
  const labelShape = model.outputs[0]!.shape.slice(1) as number[];
  const featureSize = featureShape.reduce((a, b) => a * b, 1);
  const labelSize = labelShape.reduce((a, b) => a * b, 1);
  const held = await heldOutSet(options, context, module, featureSize, labelSize);
  const loss = lossFunction(options.loss);
  let evaluatedStep = -1;
  while (!context.signal.aborted) {
    const checkpoint = await latestCheckpoint(context.checkpointDirectory);
    if (checkpoint && checkpoint.step !== evaluatedStep) {
      const candidate = await loadLayersModelFrom(checkpoint.path).catch(() => undefined); // may be pruned meanwhile
      if (candidate) {
        evaluatedStep = checkpoint.step;
        const metrics = tf.tidy(() => {
          const xs = tf.tensor(held.features, [held.count, ...featureShape]);
          const ys = tf.tensor(held.labels, [held.count, ...labelShape]);
          const predictions = candidate.predict(xs) as tf.Tensor;
          const result: Record<string, number> = {
            checkpoint_step: checkpoint.step,
            eval_loss: loss(ys, predictions).dataSync()[0]!,
          };
          if (labelSize === 1 && options.loss === 'binaryCrossentropy') {
            result.eval_accuracy = tf
              .mean(tf.equal(tf.greater(predictions, 0.5), tf.greater(ys, 0.5)))
              .dataSync()[0]!;
          }
          return result;
        });
        candidate.dispose();
        context.metrics.report(metrics);
        context.logger.info('evaluated checkpoint', metrics);
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      context.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function heldOutSet(
  options: TrainingOptions,
  context: TrainingNodeContext,
  module: TrainingModule,
  featureSize: number,
  labelSize: number,
): Promise<Batch> {
  const batches: Batch[] = [];
  if (context.input) {
    const limit = options.evaluationExamples;
    let count = 0;
    const source = batchesFromInput(
      context.input,
      module.decodeExample ?? defaultDecodeExample,
      Math.min(limit, 1024),
      featureSize,
      labelSize,
    );
    for await (const batch of source) {
      batches.push(batch);
      count += batch.count;
      if (count >= limit) break;
    }
  } else if (typeof module.evaluationBatches === 'function') {
    for await (const batch of module.evaluationBatches({ options: options.moduleOptions }))
      batches.push(batch);
  } else {
    throw new ConfigError(
      [
        {
          path: 'module',
          message: 'an evaluator needs an input stream or the module to export evaluationBatches()',
        },
      ],
      { subject: 'tensorflow training options' },
    );
  }
  const count = batches.reduce((sum, batch) => sum + batch.count, 0);
  if (count === 0) {
    throw new ConfigError([{ path: 'module', message: 'the evaluator got no held-out examples' }], {
      subject: 'tensorflow training options',
    });
  }
  const features = new Float32Array(count * featureSize);
  const labels = new Float32Array(count * labelSize);
  let row = 0;
  for (const batch of batches) {
    features.set(batch.features.subarray(0, batch.count * featureSize), row * featureSize);
    labels.set(batch.labels.subarray(0, batch.count * labelSize), row * labelSize);
    row += batch.count;
  }
  return { features, labels, count };
}
