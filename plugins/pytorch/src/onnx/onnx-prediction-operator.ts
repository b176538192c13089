/**
 * A dataflow operator that predicts with an ONNX model inside the pipeline's own process (the
 * seed's "prediction in the JVM without Python"): each subtask loads the model once in `open`,
 * predicts every incoming batch with one session run per `maxBatchSize` rows and emits one result
 * per record, in order. A torch model gets here through `torch.onnx.export`.
 *
 * ```ts
 * const scored = clicks.transform(
 *   predictWithOnnx({
 *     model: './model.onnx',
 *     features: (click) => click.features,
 *     result: (click, [probability]) => ({ ...click, probability }),
 *   }),
 *   { name: 'predict', parallelism: 2 },
 * );
 * ```
 */
import { ConfigError } from '@millrace/core';
import type { OperatorFactory, StreamOperator, SubtaskContext } from '@millrace/dataflow';
import { loadOnnxModel, type OnnxModel, type OnnxModelOptions } from './onnx-model.js';

export interface OnnxPredictionOptions<I, O> extends OnnxModelOptions {
  /** The model's input row for a record. */
  features(record: I): ArrayLike<number>;
  /** What to emit for a record and its prediction (the model's output row). Default: `{ record, prediction }`. */
  result?(record: I, prediction: Float32Array): O;
  /** Largest number of rows per session run; bigger incoming batches are split. Default 1024. */
  maxBatchSize?: number | undefined;
}

export type OnnxPredictionResult<I> = { record: I; prediction: Float32Array };

export function predictWithOnnx<I, O = OnnxPredictionResult<I>>(
  options: OnnxPredictionOptions<I, O>,
): OperatorFactory<I, O> {
  const maxBatchSize = options.maxBatchSize ?? 1024;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new ConfigError(
      [{ path: 'maxBatchSize', message: `must be a positive integer, got ${maxBatchSize}` }],
      {
        subject: 'predictWithOnnx options',
      },
    );
  }
  if (typeof options.features !== 'function') {
    throw new ConfigError(
      [{ path: 'features', message: 'must be a function from a record to its feature row' }],
      {
        subject: 'predictWithOnnx options',
      },
    );
  }
  return () => new OnnxPredictionOperator(options, maxBatchSize);
}

class OnnxPredictionOperator<I, O> implements StreamOperator<I, O> {
  #model: OnnxModel | undefined;
  #context: SubtaskContext<O> | undefined;

  constructor(
    readonly options: OnnxPredictionOptions<I, O>,
    readonly maxBatchSize: number,
  ) {}

  async open(context: SubtaskContext<O>): Promise<void> {
    this.#context = context;
    this.#model = await loadOnnxModel(this.options);
  }

  async processBatch(batch: readonly I[]): Promise<void> {
    const model = this.#model!;
    const context = this.#context!;
    const result =
      this.options.result ?? ((record: I, prediction: Float32Array) => ({ record, prediction }) as O);
    for (let start = 0; start < batch.length; start += this.maxBatchSize) {
      const records = batch.slice(start, start + this.maxBatchSize);
      const predictions = await model.predictBatch(records.map((record) => this.options.features(record)));
      records.forEach((record, row) => {
        context.output.emit(result(record, predictions[row]!));
      });
      context.count('predicted', records.length);
    }
  }

  async close(): Promise<void> {
    await this.#model?.release();
    this.#model = undefined;
  }
}
