import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

// PROD skips debug checks and the tfjs-node advert, as the library does in useBackend().
tf.env().set('PROD', true);

import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  localSpec,
  memoryInput,
  memoryOutput,
  startNode,
  temporaryDirectory,
} from './fixtures/local-nodes.js';
import { saveModelTo } from './model-io.js';
import { planServing, ServingModelError } from './serving-plan.js';
import { rowRange, shardOfRow } from './sharding.js';
import { tensorflowPredictor } from './tensorflow-predictor.js';

const models = temporaryDirectory();
afterAll(() => models.remove());
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** ids → Embedding(1000, 4) → flatten, plus the same ids into a Dense layer: not servable. */
async function saveModelWithIdsIntoDense(directory: string): Promise<void> {
  const ids = tfl.input({ shape: [3], name: 'ids' });
  const embedded = tfl.layers
    .flatten()
    .apply(
      tfl.layers.embedding({ inputDim: 1000, outputDim: 4, name: 'items' }).apply(ids),
    ) as tfl.SymbolicTensor;
  const raw = tfl.layers.dense({ units: 2, name: 'raw_ids' }).apply(ids) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate().apply([embedded, raw]) as tfl.SymbolicTensor;
  const output = tfl.layers.dense({ units: 1, activation: 'sigmoid' }).apply(joined) as tfl.SymbolicTensor;
  await saveModelTo(tfl.model({ inputs: ids, outputs: output }), directory);
}

/** An Embedding layer whose ids come out of another layer: not servable. */
async function saveModelWithInnerEmbedding(directory: string): Promise<void> {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [3], units: 3, name: 'ids_from_dense' }));
  model.add(tfl.layers.embedding({ inputDim: 1000, outputDim: 4, name: 'inner_items' }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 1 }));
  await saveModelTo(model, directory);
}

async function saveSmallModel(directory: string): Promise<void> {
  const model = tfl.sequential();
  model.add(tfl.layers.embedding({ inputDim: 1000, outputDim: 4, inputLength: 3, name: 'items' }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 1, activation: 'sigmoid' }));
  await saveModelTo(model, directory);
}

describe('prediction cluster: bad input gets a named error', () => {
  const small = join(models.path, 'small');
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await saveSmallModel(small);
  });

  it('splits a table by rows so that every row has exactly one shard', () => {
    for (const [rows, shards] of [
      [10, 3],
      [1_000_000, 2],
      [7, 7],
      [5, 4],
    ] as const) {
      for (let row = 0; row < rows; row += Math.max(1, Math.floor(rows / 997))) {
        const shard = shardOfRow(rows, shards, row);
        const range = rowRange(rows, shards, shard);
        expect(row >= range.start && row < range.end, `row ${row} of ${rows} on ${shards} shards`).toBe(true);
      }
    }
  });

  it('refuses a model input that also feeds a non-embedding layer, naming the layer', async () => {
    const directory = join(models.path, 'ids-into-dense');
    await saveModelWithIdsIntoDense(directory);
    const refusal = await planServing(directory, 2).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ServingModelError);
    expect((refusal as ServingModelError).layer).toBe('raw_ids');
    expect((refusal as Error).message).toMatch(/non-embedding model input/);
  });

  it('refuses an Embedding layer not fed by the model input, naming it', async () => {
    const directory = join(models.path, 'inner-embedding');
    await saveModelWithInnerEmbedding(directory);
    const refusal = await planServing(directory, 2).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ServingModelError);
    expect((refusal as ServingModelError).layer).toBe('inner_items');
  });

  it('fails a ps on a missing checkpoint, and a worker on an id out of range, permanently and by name', async () => {
    const spec = await localSpec({ worker: 1, ps: 1 });
    const checkpoints = temporaryDirectory();
    const nodes: Awaited<ReturnType<typeof startNode>>[] = [];
    cleanups.push(async () => {
      await Promise.all(nodes.map((node) => node.handle.stop('test over')));
      checkpoints.remove();
    });
    const start = async (checkpoint: string, role: 'ps' | 'worker', input?: readonly unknown[]) => {
      const runner = tensorflowPredictor({
        checkpoint,
        batchSize: 8,
        backend: 'cpu',
        connectTimeoutMs: 10_000,
      });
      const node = await startNode(runner, {
        spec,
        role,
        index: 0,
        checkpointDirectory: checkpoints.path,
        input: input && memoryInput(input.map((record) => new TextEncoder().encode(JSON.stringify(record)))),
        output: input && memoryOutput(),
      });
      nodes.push(node);
      return node;
    };
    const missing = await start(join(models.path, 'no-such-model'), 'ps');
    const missingResult = await missing.handle.result;
    expect(missingResult).toMatchObject({ status: 'failed', permanent: true });
    expect(missingResult.status === 'failed' && missingResult.message).toMatch(
      /ModelLoadError.*does not exist/,
    );

    await start(small, 'ps');
    const worker = await start(small, 'worker', [
      { id: 1, features: [1, 2, 3] },
      { id: 2, features: [4, 1000, 6] },
    ]);
    const result = await worker.handle.result;
    expect(result).toMatchObject({ status: 'failed', permanent: true });
    expect(result.status === 'failed' && result.message).toMatch(
      /EmbeddingIdError: input record 2 has id 1000 for Embedding layer 'items', which has rows 0 … 999/,
    );
  }, 30_000);
});
