import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

// PROD skips debug checks and the tfjs-node advert, as the library does in useBackend().
tf.env().set('PROD', true);

import '@tensorflow/tfjs-backend-cpu';
import type { InputChannel } from '@millrace/core';
import { publishModelVersion } from '@millrace/runner-kit';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localSpec, memoryOutput, startNode, temporaryDirectory, waitUntil } from './fixtures/local-nodes.js';
import { saveModelTo } from './model-io.js';
import { ModelPredictor } from './model-predictor.js';
import { tensorflowPredictor } from './tensorflow-predictor.js';

const tableRows = 1_000_000;
const embeddingWidth = 16;
const idsPerRecord = 4;

interface Scored {
  id: number;
  prediction: number[];
  version: number | null;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Embedding(rows, 16) → mean over the ids → dense sigmoid: a click model with a big id table. */
async function saveEmbeddingModel(directory: string, rows: number, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const model = tfl.sequential();
  model.add(
    tfl.layers.embedding({
      inputDim: rows,
      outputDim: embeddingWidth,
      inputLength: idsPerRecord,
      embeddingsInitializer: tfl.initializers.randomUniform({ minval: -1, maxval: 1, seed }),
    }),
  );
  model.add(tfl.layers.globalAveragePooling1d());
  model.add(
    tfl.layers.dense({
      units: 8,
      activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    }),
  );
  model.add(
    tfl.layers.dense({
      units: 1,
      activation: 'sigmoid',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  await saveModelTo(model, directory);
  model.dispose();
}

/** Deterministic records: ids drawn from a pool, so batches repeat ids and skip most of the table. */
function records(count: number, rows: number, seed: number): { id: number; features: number[] }[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pool = Array.from({ length: 5_000 }, () => Math.floor(next() * rows));
  pool.push(0, rows - 1); // both ends of the table, on both shards' edges
  return Array.from({ length: count }, (_, id) => ({
    id,
    features: Array.from({ length: idsPerRecord }, () => pool[Math.floor(next() * pool.length)]!),
  }));
}

async function referencePredictions(
  directory: string,
  input: readonly { features: number[] }[],
): Promise<Float32Array> {
  const predictor = await ModelPredictor.load({ modelDirectory: directory, backend: 'cpu' });
  const features = Float32Array.from(input.flatMap((record) => record.features));
  const predictions = predictor.predict(features, input.length);
  predictor.dispose();
  return predictions;
}

/** An input channel that hands out `batch` records every `delayMs`, so the stream lasts a while. */
function pacedInput(
  items: readonly unknown[],
  batch: number,
  delayMs: number,
  /**
   * Awaited before each of the last two batches is handed out, for a test that needs something to
   * happen first: the first of them brings a worker the shards' news, the last is scored with it.
   */
  beforeLast?: () => Promise<void>,
): InputChannel & { read: number } {
  const encoded = items.map((item) => new TextEncoder().encode(JSON.stringify(item)));
  const channel = {
    read: 0,
    async readBatch(maxRecords: number) {
      if (channel.read >= encoded.length) return null;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (beforeLast && channel.read + 2 * Math.min(batch, maxRecords) >= encoded.length) await beforeLast();
      const slice = encoded.slice(channel.read, channel.read + Math.min(batch, maxRecords));
      channel.read += slice.length;
      return slice;
    },
    async *[Symbol.asyncIterator]() {
      for (let next = await channel.readBatch(batch); next; next = await channel.readBatch(batch))
        yield* next;
    },
  };
  return channel;
}

/** A cluster spec with `workers` workers and 2 ps, and a start() that records its nodes for cleanup. */
async function predictionCluster(workers: number) {
  const spec = await localSpec({ worker: workers, ps: 2 });
  const directory = temporaryDirectory();
  const nodes: Awaited<ReturnType<typeof startNode>>[] = [];
  cleanups.push(async () => {
    await Promise.all(nodes.map((node) => node.handle.stop('test over')));
    directory.remove();
  });
  const start = async (
    runner: ReturnType<typeof tensorflowPredictor>,
    role: 'ps' | 'worker',
    index: number,
    extra: { input?: InputChannel; output?: ReturnType<typeof memoryOutput<Scored>>; attempt?: number } = {},
  ) => {
    const node = await startNode(runner, {
      spec,
      role,
      index,
      checkpointDirectory: directory.path,
      ...extra,
    });
    nodes.push(node);
    return node;
  };
  /** Starts workers 0 and 1 on the even and odd ids of `input`, each writing to its own output. */
  const startWorkers = async (
    runner: ReturnType<typeof tensorflowPredictor>,
    input: readonly { id: number }[],
    batch: number,
    delayMs: number,
    beforeLast?: () => Promise<void>,
  ) => {
    const outputs = [memoryOutput<Scored>(), memoryOutput<Scored>()];
    const workers = await Promise.all(
      [0, 1].map((index) =>
        start(runner, 'worker', index, {
          input: pacedInput(
            input.filter((record) => record.id % 2 === index),
            batch,
            delayMs,
            beforeLast,
          ),
          output: outputs[index]!,
        }),
      ),
    );
    return { outputs, workers };
  };
  return { spec, start, startWorkers };
}

const latest = (metrics: readonly Record<string, number>[], name: string) =>
  metrics.filter((entry) => entry[name] !== undefined).at(-1)?.[name];

describe('prediction by a cluster', () => {
  const model = temporaryDirectory();
  const bigModel = join(model.path, 'big');
  beforeAll(async () => {
    await saveEmbeddingModel(bigModel, tableRows, 7);
  }, 60_000);
  afterAll(() => model.remove());

  it('scores like in-process prediction on a 1,000,000 × 16 table split over 2 ps, pulling only the rows batches use', async () => {
    const input = records(3_000, tableRows, 11);
    const expected = await referencePredictions(bigModel, input);
    const { start, startWorkers } = await predictionCluster(2);
    const predictor = tensorflowPredictor({ checkpoint: bigModel, batchSize: 64, backend: 'cpu' });
    const ps = [await start(predictor, 'ps', 0), await start(predictor, 'ps', 1)];
    const { outputs, workers } = await startWorkers(predictor, input, 64, 0);
    const results = await Promise.all(workers.map((worker) => worker.handle.result));
    expect(results, workers.flatMap((worker) => worker.logs).join('\n')).toEqual([
      { status: 'succeeded' },
      { status: 'succeeded' },
    ]);
    const scored = outputs.flatMap((output) => output.records);
    expect(scored).toHaveLength(input.length);
    let largest = 0;
    for (const output of scored) {
      largest = Math.max(largest, Math.abs(output.prediction[0]! - expected[output.id]!));
      expect(output.version).toBeNull();
    }
    expect(largest).toBeLessThan(1e-6);
    // Each worker's outputs come in its input order.
    for (const [index, output] of outputs.entries()) {
      expect(output.records.map((record) => record.id)).toEqual(
        input.filter((record) => record.id % 2 === index).map((record) => record.id),
      );
    }
    // Each ps holds its half of the table and no more: 500,000 rows × 16 float32 plus its dense share.
    const tableBytes = tableRows * embeddingWidth * 4;
    for (const [index, node] of ps.entries()) {
      expect(latest(node.metrics, 'row_start')).toBe(index * (tableRows / 2));
      expect(latest(node.metrics, 'rows_held')).toBe(tableRows / 2);
      expect(latest(node.metrics, 'bytes_held')!).toBeGreaterThanOrEqual(tableBytes / 2);
      expect(latest(node.metrics, 'bytes_held')!).toBeLessThan(tableBytes / 2 + 4_096);
    }
    const pulled = workers.map((worker) => latest(worker.metrics, 'rows_pulled')!);
    for (const rows of pulled) expect(rows).toBeLessThan(tableRows / 10);
    console.log(
      `cluster prediction: largest difference ${largest.toExponential(2)}, rows pulled per worker ${pulled.join(', ')}, ` +
        `bytes per ps ${ps.map((node) => latest(node.metrics, 'bytes_held')).join(', ')}`,
    );
  }, 60_000);

  it('a ps killed with SIGKILL mid-stream is restarted from the checkpoint; every record is scored exactly once', async () => {
    const input = records(3_000, tableRows, 23);
    const { start, startWorkers } = await predictionCluster(2);
    const predictor = tensorflowPredictor({
      checkpoint: bigModel,
      batchSize: 64,
      backend: 'cpu',
      connectTimeoutMs: 20_000,
    });
    await start(predictor, 'ps', 0);
    const victim = await start(predictor, 'ps', 1);
    const { outputs, workers } = await startWorkers(predictor, input, 64, 80);
    await waitUntil(
      () => outputs.every((output) => output.records.length >= 256),
      20_000,
      'both workers to score 256 records',
    );
    const scoredBy = () => outputs[0]!.records.length + outputs[1]!.records.length;
    const scoredAtKill = scoredBy();
    // Both workers are mid-stream when the ps dies.
    for (const output of outputs) expect(output.records.length).toBeLessThan(input.length / 2);
    process.kill(latest(victim.metrics, 'pid')!, 'SIGKILL');
    expect(await victim.handle.result).toMatchObject({ status: 'failed', signal: 'SIGKILL' });
    const scoredWhileDown = scoredBy() - scoredAtKill;
    // What the engine does for a prediction cluster (restart-one): the same ps, next attempt.
    const restarted = await start(predictor, 'ps', 1, { attempt: 1 });
    const results = await Promise.all(workers.map((worker) => worker.handle.result));
    expect(results, workers.flatMap((worker) => worker.logs).join('\n')).toEqual([
      { status: 'succeeded' },
      { status: 'succeeded' },
    ]);
    expect(scoredAtKill).toBeLessThan(input.length);
    expect(latest(restarted.metrics, 'row_start')).toBe(tableRows / 2);
    expect(workers.flatMap((worker) => worker.logs).some((line) => line.includes('reconnecting'))).toBe(true);
    const times = new Map<number, number>();
    for (const output of outputs.flatMap((channel) => channel.records)) {
      times.set(output.id, (times.get(output.id) ?? 0) + 1);
    }
    expect(times.size).toBe(input.length);
    expect([...times.values()].every((count) => count === 1)).toBe(true);
    console.log(
      `ps kill: ${scoredAtKill} of ${input.length} records scored when ps 1 was killed, ${scoredWhileDown} more before it was restarted; all scored once`,
    );
  }, 60_000);

  it('follows published versions: the shards move together, a batch carries one version, versions only grow', async () => {
    const rows = 20_000;
    const versions = temporaryDirectory();
    cleanups.push(() => versions.remove());
    const models = [1, 2, 3].map((version) => join(versions.path, `model-${version}`));
    for (const [index, directory] of models.entries()) await saveEmbeddingModel(directory, rows, 100 + index);
    const input = records(3_200, rows, 31);
    const expected = await Promise.all(models.map((directory) => referencePredictions(directory, input)));
    await publishModelVersion(versions.path, { path: models[0]!, step: 1 });
    const { start, startWorkers } = await predictionCluster(2);
    const batchSize = 32;
    const predictor = tensorflowPredictor({
      follow: { directory: versions.path, pollMs: 50 },
      batchSize,
      backend: 'cpu',
    });
    const shards = [await start(predictor, 'ps', 0), await start(predictor, 'ps', 1)];
    // The last two batches wait until both shards serve version 3, however slow loading it is
    // under load: the test is about versions moving together, not about how fast a load is.
    let lastVersionServed: () => void = () => {};
    const servingLast = new Promise<void>((resolve) => (lastVersionServed = resolve));
    const { outputs, workers } = await startWorkers(predictor, input, batchSize, 50, () => servingLast);
    await waitUntil(() => outputs[0]!.records.length >= 400, 20_000, 'worker 0 to score 400 records');
    await publishModelVersion(versions.path, { path: models[1]!, step: 2 });
    await waitUntil(() => outputs[0]!.records.length >= 900, 20_000, 'worker 0 to score 900 records');
    await publishModelVersion(versions.path, { path: models[2]!, step: 3 });
    await waitUntil(
      () => shards.every((shard) => latest(shard.metrics, 'version') === 3),
      20_000,
      'both shards to serve version 3',
    );
    lastVersionServed();
    const results = await Promise.all(workers.map((worker) => worker.handle.result));
    expect(results, workers.flatMap((worker) => worker.logs).join('\n')).toEqual([
      { status: 'succeeded' },
      { status: 'succeeded' },
    ]);
    for (const output of outputs) {
      const scored = output.records;
      expect(scored).toHaveLength(input.length / 2);
      // Every output's version was published, and its score is that version's, to the last digit
      // that matters: no record mixed rows or dense variables of two versions.
      for (const record of scored) {
        expect([1, 2, 3]).toContain(record.version);
        expect(Math.abs(record.prediction[0]! - expected[record.version! - 1]![record.id]!)).toBeLessThan(
          1e-6,
        );
      }
      const seen = scored.map((record) => record.version!);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      for (let first = 0; first < scored.length; first += batchSize) {
        expect(new Set(seen.slice(first, first + batchSize)).size).toBe(1);
      }
      expect(seen.at(-1)).toBe(3);
    }
    const perVersion = [1, 2, 3].map(
      (version) =>
        outputs.flatMap((output) => output.records).filter((record) => record.version === version).length,
    );
    console.log(`following versions: records scored by versions 1, 2, 3: ${perVersion.join(', ')}`);
  }, 60_000);
});
