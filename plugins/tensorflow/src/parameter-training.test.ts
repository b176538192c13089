import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

// PROD skips debug checks and the tfjs-node advert, as the library does in useBackend().
tf.env().set('PROD', true);

import { pack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { modelVersionNumbers, readModelVersion } from '@millrace/runner-kit';
import { createModel, examples } from './fixtures/clicks-model.mjs';
import {
  clicksModulePath,
  memoryInput,
  startNode,
  clicksTrainer as trainer,
  trainingCluster,
  waitUntil,
} from './fixtures/local-nodes.js';
import { latestCheckpoint, loadLayersModelFrom, saveModelTo } from './model-io.js';
import { tensorflowTrainer } from './tensorflow-trainer.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function accuracyOf(directory: string): Promise<number> {
  await tf.setBackend('cpu');
  const checkpoint = await latestCheckpoint(directory);
  expect(checkpoint).toBeDefined();
  const model = await loadLayersModelFrom(checkpoint!.path);
  const held = examples(424242, 2000);
  const predictions = tf.tidy(() =>
    (model.predict(tf.tensor2d(held.features, [held.count, 8])) as tf.Tensor).dataSync(),
  );
  let correct = 0;
  for (let row = 0; row < held.count; row++)
    if ((predictions[row]! > 0.5 ? 1 : 0) === held.labels[row]) correct++;
  return correct / held.count;
}

/** A cluster of hand-started nodes on the clicks trainer, stopped and removed after each test. */
function cluster(layout: Record<string, number>, training: 'async' | 'sync', runner = trainer()) {
  return trainingCluster(layout, training, runner, (cleanup) => cleanups.push(cleanup));
}

describe('parameter-server training', () => {
  for (const training of ['async', 'sync'] as const) {
    it(`converges in ${training} mode with 2 workers and 2 parameter servers`, async () => {
      const { start, directory } = await cluster({ worker: 2, ps: 2 }, training);
      await start('ps', 0);
      await start('ps', 1);
      const workers = [await start('worker', 0), await start('worker', 1)];
      const results = await Promise.all(workers.map((worker) => worker.handle.result));
      expect(results.map((result) => result.status)).toEqual(['succeeded', 'succeeded']);
      // Both workers' gradients reached the parameter servers: 2 × 60 steps in async mode,
      // 60 aggregated steps in sync mode.
      const step = Math.max(
        ...workers.flatMap((worker) => worker.metrics.map((metrics) => metrics.step ?? 0)),
      );
      expect(step).toBe(training === 'async' ? 120 : 60);
      // Chance is 0.5; async runs land between 0.85 and 0.95 (CI once drew exactly 0.85).
      expect(await accuracyOf(directory)).toBeGreaterThanOrEqual(0.8);
    });
  }

  it('trains on records from the input channel (stream mode); each version records the input position it covers', async () => {
    const { spec, directory } = await cluster({ worker: 1, ps: 1 }, 'async');
    const data = examples(99, 64 * 80);
    const records = Array.from({ length: data.count }, (_, row) =>
      pack({ features: Array.from(data.features.subarray(row * 8, row * 8 + 8)), label: data.labels[row] }),
    );
    const runner = trainer();
    const ps = await startNode(runner, { spec, role: 'ps', index: 0, checkpointDirectory: directory });
    const worker = await startNode(runner, {
      spec,
      role: 'worker',
      index: 0,
      checkpointDirectory: directory,
      input: memoryInput(records),
      resumePosition: 1_000, // as after a restart: this start's first record is the input's 1,001st
    });
    cleanups.push(() => ps.handle.stop('test over'));
    expect((await worker.handle.result).status).toBe('succeeded');
    expect(await accuracyOf(directory)).toBeGreaterThan(0.85);
    // Every published version says how far into worker 0's input it had trained: positions only
    // grow, lie within what this start read, and the final checkpoint covers the whole input.
    const positions = [];
    for (const number of await modelVersionNumbers(directory)) {
      positions.push((await readModelVersion(directory, number)).inputPosition?.['worker-0']);
    }
    expect(positions.length).toBeGreaterThan(1);
    expect(positions.at(-1)).toBe(1_000 + data.count);
    for (const position of positions) {
      expect(position).toBeGreaterThan(1_000);
      expect(position).toBeLessThanOrEqual(1_000 + data.count);
    }
    expect(positions).toEqual([...positions].sort((a, b) => a! - b!));
  });

  it('an evaluator reports held-out loss and accuracy for each new checkpoint until stopped', async () => {
    const { start, directory } = await cluster({ worker: 1, ps: 1, evaluator: 1 }, 'async');
    await start('ps', 0);
    const evaluator = await start('evaluator', 0);
    const worker = await start('worker', 0);
    expect((await worker.handle.result).status).toBe('succeeded');
    const final = (await latestCheckpoint(directory))!;
    await waitUntil(
      () => evaluator.metrics.some((m) => m.checkpoint_step === final.step),
      20_000,
      'the evaluation of the final checkpoint',
    );
    const last = evaluator.metrics.find((m) => m.checkpoint_step === final.step)!;
    expect(last.eval_accuracy).toBeGreaterThan(0.85);
    expect(last.eval_loss).toBeLessThan(0.4);
    await evaluator.handle.stop('job over');
    expect(await evaluator.handle.result).toEqual({ status: 'stopped' });
  });

  it('starts from a saved model directory when the module exports modelDirectory', async () => {
    await tf.setBackend('cpu');
    const { start, directory } = await cluster({ worker: 1, ps: 1 }, 'async');
    const saved = join(directory, 'pretrained');
    const pretrained = createModel({ hidden: 12 });
    await saveModelTo(pretrained, saved);
    // A module with no code of its own: the model is the saved one, the data the fixture's.
    const module = join(directory, 'from-directory.mjs');
    writeFileSync(
      module,
      `export const modelDirectory = ${JSON.stringify(saved)};\nexport { trainingBatches } from ${JSON.stringify(clicksModulePath)};\n`,
    );
    const runner = tensorflowTrainer({ module, batchSize: 64, moduleOptions: { batchesPerWorker: 5 } });
    await start('ps', 0, 0, runner);
    const worker = await start('worker', 0, 0, runner);
    expect((await worker.handle.result).status).toBe('succeeded');
    const trained = await loadLayersModelFrom((await latestCheckpoint(directory))!.path);
    // Same architecture as the saved model (12 hidden units, not the fixture's default 16)…
    expect(trained.trainableWeights.map((w) => w.shape)).toEqual(
      pretrained.trainableWeights.map((w) => w.shape),
    );
    // …and training moved its weights.
    const before = pretrained.trainableWeights[0]!.read().dataSync();
    const after = trained.trainableWeights[0]!.read().dataSync();
    expect(Array.from(after)).not.toEqual(Array.from(before));
  });
});
