/**
 * Prediction with a TF.js model loaded from a directory, in the calling process (the seed's
 * "prediction in the Java process"): layers models through tfjs-layers, graph models through
 * `@tensorflow/tfjs-converter` when it is installed. Rows are predicted in batches, one tensor per
 * batch, never one call per row.
 */
import { DependencyMissingError } from '@millrace/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type BackendName, useBackend } from './backend.js';
import { directoryLoader, loadLayersModelFrom, ModelLoadError, readModelJson } from './model-io.js';

export interface PredictorOptions {
  /** A TF.js model directory (`model.json` + weights), e.g. a checkpoint written by the trainer. */
  modelDirectory: string;
  /** Backend to predict on; wasm by default, cpu when wasm cannot start. */
  backend?: BackendName | undefined;
}

interface GraphModelLike {
  predict(inputs: tf.Tensor): tf.Tensor | tf.Tensor[];
  inputs: { shape?: number[] }[];
  dispose(): void;
}

export class ModelPredictor {
  readonly backend: BackendName;
  /** Values per input row (the product of the model's input shape without the batch dimension). */
  readonly featureSize: number;
  /** Values per output row. */
  readonly outputSize: number;
  readonly #model: tfl.LayersModel | GraphModelLike;
  readonly #rowShape: number[];

  private constructor(
    model: tfl.LayersModel | GraphModelLike,
    backend: BackendName,
    rowShape: number[],
    outputSize: number,
  ) {
    this.#model = model;
    this.backend = backend;
    this.#rowShape = rowShape;
    this.featureSize = rowShape.reduce((a, b) => a * b, 1);
    this.outputSize = outputSize;
  }

  /** Loads the model in `options.modelDirectory`; a missing or corrupt directory rejects with a ModelLoadError. */
  static async load(options: PredictorOptions): Promise<ModelPredictor> {
    const backend = await useBackend(options.backend ?? 'wasm');
    const json = await readModelJson(options.modelDirectory);
    if (json.format === 'graph-model') {
      const graph = await loadGraphModel(options.modelDirectory);
      const rowShape = (graph.inputs[0]?.shape ?? [-1]).slice(1).map((dimension) => Math.max(1, dimension));
      const probe = tf.tidy(() => {
        const output = graph.predict(tf.zeros([1, ...rowShape]));
        return (Array.isArray(output) ? output[0]! : output).size;
      });
      return new ModelPredictor(graph, backend, rowShape, probe);
    }
    const model = await loadLayersModelFrom(options.modelDirectory);
    const rowShape = model.inputs[0]!.shape.slice(1) as number[];
    const outputShape = model.outputs[0]!.shape.slice(1) as number[];
    if ([...rowShape, ...outputShape].some((dimension) => dimension === null)) {
      throw new ModelLoadError(
        options.modelDirectory,
        'the model has a variable-size input or output besides the batch',
      );
    }
    return new ModelPredictor(
      model,
      backend,
      rowShape,
      outputShape.reduce((a, b) => a * b, 1),
    );
  }

  /** Predicts `rows` rows laid out one after another in `features`; returns `rows × outputSize` values. */
  predict(features: Float32Array, rows: number): Float32Array {
    if (features.length !== rows * this.featureSize) {
      throw new RangeError(`expected ${rows} × ${this.featureSize} feature values, got ${features.length}`);
    }
    return tf.tidy(() => {
      const output = this.#model.predict(tf.tensor(features, [rows, ...this.#rowShape]));
      return (Array.isArray(output) ? output[0]! : output).dataSync() as Float32Array;
    });
  }

  dispose(): void {
    this.#model.dispose();
  }
}

async function loadGraphModel(directory: string): Promise<GraphModelLike> {
  const converterName = '@tensorflow/tfjs-converter';
  let converter: { loadGraphModel(handler: unknown): Promise<GraphModelLike> };
  try {
    converter = (await import(converterName)) as typeof converter;
  } catch (cause) {
    throw new DependencyMissingError(
      converterName,
      `${directory} holds a TF.js graph model, which needs ${converterName} 4.22 (npm install ${converterName}@4.22.0); layers models need nothing more`,
      { cause },
    );
  }
  try {
    return await converter.loadGraphModel(directoryLoader(directory));
  } catch (cause) {
    throw new ModelLoadError(
      directory,
      `TensorFlow.js rejected the graph model: ${(cause as Error).message}`,
      { cause },
    );
  }
}
