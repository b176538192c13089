/**
 * An ONNX model loaded into this process: rows of numeric features in, one output row per input
 * row out, in order. Rows are stacked into one `[batch, features]` tensor per call, because a
 * session run has a fixed cost that batching amortises.
 */
import { ConfigError } from '@millrace/core';
import {
  loadOnnxRuntime,
  type OnnxRuntime,
  type OnnxRuntimeImporter,
  type OnnxSession,
} from './onnxruntime-loader.js';

export interface OnnxModelOptions {
  /** The model: a path to an `.onnx` file, or its bytes. */
  model: string | Uint8Array;
  /** Which input gets the features; the model's first input when omitted. */
  inputName?: string | undefined;
  /** Which output becomes the prediction; the model's first output when omitted. */
  outputName?: string | undefined;
  /**
   * Threads onnxruntime may use per session. Default 1: a prediction operator usually runs with a
   * parallelism of its own, and several multi-threaded sessions would fight over the cores.
   */
  threads?: number | undefined;
  /** @internal Replaces the `onnxruntime-node` import (tests simulate a missing install). */
  importOnnxRuntime?: OnnxRuntimeImporter | undefined;
}

export interface OnnxModel {
  readonly inputName: string;
  readonly outputName: string;
  /**
   * The declared shape of the input and the output the model uses (`['batch', 4]`), or undefined
   * when the model does not declare one. Following versions compares them to refuse a model that
   * takes or gives rows of another width.
   */
  readonly inputShape: readonly (number | string)[] | undefined;
  readonly outputShape: readonly (number | string)[] | undefined;
  /** One output row per input row, in order. Every row must have the same length. */
  predictBatch(rows: readonly ArrayLike<number>[]): Promise<Float32Array[]>;
  /** Frees the native session; the model cannot predict afterwards. */
  release(): Promise<void>;
}

export async function loadOnnxModel(options: OnnxModelOptions): Promise<OnnxModel> {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ConfigError([{ path: 'threads', message: `must be a positive integer, got ${threads}` }], {
      subject: 'onnx model options',
    });
  }
  const runtime = await loadOnnxRuntime(options.importOnnxRuntime);
  const session = await runtime.InferenceSession.create(options.model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const inputName = pickName(session.inputNames, options.inputName, 'inputName');
  const outputName = pickName(session.outputNames, options.outputName, 'outputName');
  const shapeOf = (metadata: OnnxSession['inputMetadata'], name: string) => {
    const shape = metadata?.find((value) => value.name === name)?.shape;
    return shape && shape.length > 0 ? shape : undefined;
  };
  return new LoadedOnnxModel(
    runtime,
    session,
    inputName,
    outputName,
    shapeOf(session.inputMetadata, inputName),
    shapeOf(session.outputMetadata, outputName),
  );
}

function pickName(available: readonly string[], wanted: string | undefined, field: string): string {
  const name = wanted ?? available[0];
  if (name === undefined || !available.includes(name)) {
    throw new ConfigError(
      [{ path: field, message: `the model has no '${wanted}'; it has: ${available.join(', ') || 'none'}` }],
      { subject: 'onnx model options' },
    );
  }
  return name;
}

class LoadedOnnxModel implements OnnxModel {
  #released = false;

  constructor(
    readonly runtime: OnnxRuntime,
    readonly session: OnnxSession,
    readonly inputName: string,
    readonly outputName: string,
    readonly inputShape: readonly (number | string)[] | undefined,
    readonly outputShape: readonly (number | string)[] | undefined,
  ) {}

  async predictBatch(rows: readonly ArrayLike<number>[]): Promise<Float32Array[]> {
    if (this.#released) throw new Error('this ONNX model was released; load it again to predict');
    if (rows.length === 0) return [];
    const width = rows[0]!.length;
    const features = new Float32Array(rows.length * width);
    rows.forEach((row, index) => {
      if (row.length !== width) {
        throw new ConfigError(
          [{ path: `rows.${index}`, message: `has ${row.length} features, the first row has ${width}` }],
          { subject: 'onnx prediction input' },
        );
      }
      features.set(row, index * width);
    });
    const input = new this.runtime.Tensor('float32', features, [rows.length, width]);
    const outputs = await this.session.run({ [this.inputName]: input });
    const output = outputs[this.outputName]!;
    const data = output.data as Float32Array;
    const perRow = data.length / rows.length;
    // Copies, so a caller may keep a row after the next batch reuses onnxruntime's buffers.
    return rows.map((_, index) => data.slice(index * perRow, (index + 1) * perRow));
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.session.release();
  }
}
