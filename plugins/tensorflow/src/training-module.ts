/**
 * What a user's training module exports. The module is imported by path in every training
 * process (workers and parameter servers alike), the way TensorFlow runs one script on every task.
 *
 * ```ts
 * // model.ts
 * export function createModel() {
 *   const model = tf.sequential();
 *   model.add(tf.layers.dense({ inputShape: [8], units: 1, activation: 'sigmoid' }));
 *   return model;
 * }
 * export function decodeExample(record: Uint8Array) { ... return { features, label }; }
 * ```
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, type InputChannel } from '@millrace/core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { unpack } from 'msgpackr';
import { loadLayersModelFrom } from './model-io.js';

export interface Example {
  features: ArrayLike<number>;
  label: number | ArrayLike<number>;
}

/** A batch of examples, row-major: `count` rows of features and labels. */
export interface Batch {
  features: Float32Array;
  labels: Float32Array;
  count: number;
}

export interface BatchContext {
  /** This worker's position among the computing nodes (chief first, then workers). */
  worker: number;
  workers: number;
  batchSize: number;
  options: Readonly<Record<string, unknown>>;
}

export interface TrainingModule {
  /** Builds the model (tfjs-layers). Called once per process; every process must build the same shapes. */
  createModel?(options: Readonly<Record<string, unknown>>): tfl.LayersModel | Promise<tfl.LayersModel>;
  /** Alternatively, a saved TF.js layers model directory to start from. */
  modelDirectory?: string;
  /** Turns one input record into an example. Default: msgpack `{ features: number[], label }`. */
  decodeExample?(record: Uint8Array): Example;
  /** Held-out batches for an evaluator without an input stream. */
  evaluationBatches?(context: {
    options: Readonly<Record<string, unknown>>;
  }): AsyncIterable<Batch> | Iterable<Batch>;
  /** Batches for a worker without an input stream (a batch-mode source role). */
  trainingBatches?(context: BatchContext): AsyncIterable<Batch> | Iterable<Batch>;
}

/**
 * Imports a user's module (a path or `file:` URL) named by a runner's `module` option; a module
 * that cannot be imported is a ConfigError about that option of `subject`.
 */
export async function importUserModule<T>(specifier: string, subject: string): Promise<T> {
  const url = specifier.startsWith('file:') ? specifier : pathToFileURL(specifier).href;
  try {
    return (await import(url)) as T;
  } catch (cause) {
    throw new ConfigError(
      [{ path: 'module', message: `cannot import '${specifier}': ${(cause as Error).message}` }],
      { subject, cause },
    );
  }
}

export async function importTrainingModule(specifier: string): Promise<TrainingModule> {
  const loaded = await importUserModule<TrainingModule>(specifier, 'tensorflow training options');
  if (typeof loaded.createModel !== 'function' && typeof loaded.modelDirectory !== 'string') {
    throw new ConfigError(
      [{ path: 'module', message: `'${specifier}' exports neither createModel() nor modelDirectory` }],
      { subject: 'tensorflow training options' },
    );
  }
  return loaded;
}

export async function buildModel(
  module: TrainingModule,
  options: Readonly<Record<string, unknown>>,
): Promise<tfl.LayersModel> {
  if (typeof module.createModel === 'function') return module.createModel(options);
  return loadLayersModelFrom(module.modelDirectory!);
}

export function defaultDecodeExample(record: Uint8Array): Example {
  return unpack(record) as Example;
}

/** Where a restarted worker's input must be skipped or cut, in records of this start's input. */
export interface InputCuts {
  /** The first `skipThrough` records are read and dropped undecoded (the model holds them). */
  skipThrough: number;
  /** Ascending counts at which a batch must end (a parameter server's position lies there). */
  boundaries: readonly number[];
}

/**
 * Reads `input` into batches of `batchSize` rows (the last one may be smaller), after skipping
 * `cuts.skipThrough` records and ending a batch at each of `cuts.boundaries`.
 */
export async function* batchesFromInput(
  input: InputChannel,
  decode: (record: Uint8Array) => Example,
  batchSize: number,
  featureSize: number,
  labelSize: number,
  cuts: InputCuts = { skipThrough: 0, boundaries: [] },
): AsyncGenerator<Batch> {
  let position = 0;
  while (position < cuts.skipThrough) {
    const skipped = await input.readBatch(Math.min(4096, cuts.skipThrough - position));
    if (skipped === null) return;
    position += skipped.length;
  }
  let ended = false;
  while (!ended) {
    const boundary = cuts.boundaries.find((cut) => cut > position);
    const size = boundary === undefined ? batchSize : Math.min(batchSize, boundary - position);
    const features = new Float32Array(size * featureSize);
    const labels = new Float32Array(size * labelSize);
    let count = 0;
    while (count < size) {
      const records = await input.readBatch(size - count);
      if (records === null) {
        ended = true;
        break;
      }
      for (const record of records) {
        const example = decode(record);
        features.set(example.features, count * featureSize);
        if (typeof example.label === 'number') labels[count * labelSize] = example.label;
        else labels.set(example.label, count * labelSize);
        count += 1;
      }
    }
    position += count;
    if (count > 0) {
      yield {
        features: count === size ? features : features.subarray(0, count * featureSize),
        labels: count === size ? labels : labels.subarray(0, count * labelSize),
        count,
      };
    }
  }
}
