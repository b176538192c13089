import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

// PROD skips debug checks and the tfjs-node advert, as the library does in useBackend().
tf.env().set('PROD', true);

import { afterAll, describe, expect, it } from 'vitest';
import { createModel, examples } from './fixtures/clicks-model.mjs';
import { temporaryDirectory } from './fixtures/local-nodes.js';
import { ModelLoadError, saveModelTo } from './model-io.js';
import { ModelPredictor } from './model-predictor.js';

const directory = temporaryDirectory();
afterAll(() => directory.remove());

describe('ModelPredictor', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`matches model.predict on the same inputs (${backend})`, async () => {
      const predictor = await ModelPredictor.load({
        modelDirectory: await savedModel('m-' + backend),
        backend,
      });
      expect(predictor.backend).toBe(backend);
      const data = examples(5, 300);
      const ours = predictor.predict(data.features, data.count);
      const reference = await (await import('./model-io.js')).loadLayersModelFrom(
        join(directory.path, 'm-' + backend),
      );
      const theirs = tf.tidy(() =>
        (reference.predict(tf.tensor2d(data.features, [300, 8])) as tf.Tensor).dataSync(),
      );
      expect(ours.length).toBe(300);
      for (let i = 0; i < 300; i++) expect(ours[i]).toBeCloseTo(theirs[i]!, 5);
      predictor.dispose();
    });
  }

  it('rejects a missing directory with a clear error', async () => {
    const error = await ModelPredictor.load({ modelDirectory: join(directory.path, 'nope') }).catch(
      (e: unknown) => e,
    );
    expect(ModelLoadError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/nope: the directory does not exist/);
  });

  it('rejects a corrupt model.json and truncated weights, naming the problem', async () => {
    const broken = join(directory.path, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'model.json'), '{"modelTopology": ');
    await expect(ModelPredictor.load({ modelDirectory: broken })).rejects.toThrow(
      /model.json is not valid JSON/,
    );
    const truncated = await savedModel('truncated');
    writeFileSync(join(truncated, 'weights.bin'), Buffer.alloc(12));
    await expect(ModelPredictor.load({ modelDirectory: truncated })).rejects.toThrow(
      /truncated or mismatched/,
    );
    const empty = join(directory.path, 'empty');
    mkdirSync(empty);
    await expect(ModelPredictor.load({ modelDirectory: empty })).rejects.toThrow(
      /no readable model.json \(ENOENT\)/,
    );
  });

  it('says a graph model needs tfjs-converter rather than failing obscurely', async () => {
    const graph = join(directory.path, 'graph');
    mkdirSync(graph);
    writeFileSync(
      join(graph, 'model.json'),
      JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }),
    );
    await expect(ModelPredictor.load({ modelDirectory: graph })).rejects.toThrow(
      /needs @tensorflow\/tfjs-converter/,
    );
  });
});

async function savedModel(name: string): Promise<string> {
  await tf.setBackend('cpu');
  const path = join(directory.path, name);
  await saveModelTo(createModel(), path);
  return path;
}
