/**
 * A dataflow operator that predicts with a TF.js model in the pipeline's own process: each
 * subtask loads the model once in `open`, then predicts every incoming batch of records with one
 * `predict` call per `maxBatchSize` rows and emits one result per record, in order.
 *
 * ```ts
 * scored = clicks.transform(predictWithTensorflow({
 *   modelDirectory: './checkpoints/ckpt-000000120',
 *   features: (click) => click.features,
 *   result: (click, [probability]) => ({ ...click, probability }),
 * }), { name: 'predict', parallelism: 2 });
 * ```
 */
import type { OperatorFactory, StreamOperator, SubtaskContext } from '@millrace/dataflow';
import type { BackendName } from './backend.js';
import { ModelPredictor } from './model-predictor.js';

export interface PredictionOptions<I, O> {
  /** TF.js model directory (layers or graph model), loaded once per subtask. */
  modelDirectory: string;
  /** The model's input row for a record (as many values as the model's input takes per row). */
  features(record: I): ArrayLike<number>;
  /** What to emit for a record and its prediction (the model's output row). Default: `{ record, prediction }`. */
  result?(record: I, prediction: Float32Array): O;
  /** Backend: wasm (default) or cpu. wasm falls back to cpu when it cannot start. */
  backend?: BackendName;
  /** Largest number of rows per `predict` call; bigger incoming batches are split. Default 1024. */
  maxBatchSize?: number;
}

export type PredictionResult<I> = { record: I; prediction: Float32Array };

export function predictWithTensorflow<I, O = PredictionResult<I>>(
  options: PredictionOptions<I, O>,
): OperatorFactory<I, O> {
  return () => new PredictionOperator(options);
}

class PredictionOperator<I, O> implements StreamOperator<I, O> {
  readonly #options: PredictionOptions<I, O>;
  #predictor: ModelPredictor | undefined;
  #context: SubtaskContext<O> | undefined;

  constructor(options: PredictionOptions<I, O>) {
    this.#options = options;
  }

  async open(context: SubtaskContext<O>): Promise<void> {
    this.#context = context;
    this.#predictor = await ModelPredictor.load({
      modelDirectory: this.#options.modelDirectory,
      backend: this.#options.backend,
    });
  }

  processBatch(batch: readonly I[]): void {
    const predictor = this.#predictor!;
    const context = this.#context!;
    const limit = this.#options.maxBatchSize ?? 1024;
    const result =
      this.#options.result ?? ((record: I, prediction: Float32Array) => ({ record, prediction }) as O);
    const { featureSize, outputSize } = predictor;
    for (let start = 0; start < batch.length; start += limit) {
      const rows = Math.min(limit, batch.length - start);
      const features = new Float32Array(rows * featureSize);
      for (let row = 0; row < rows; row++) {
        const values = this.#options.features(batch[start + row]!);
        if (values.length !== featureSize) {
          throw new RangeError(
            `predictWithTensorflow: features() returned ${values.length} values for a record; the model takes ${featureSize}`,
          );
        }
        features.set(values, row * featureSize);
      }
      const predictions = predictor.predict(features, rows);
      for (let row = 0; row < rows; row++) {
        context.output.emit(
          result(batch[start + row]!, predictions.slice(row * outputSize, (row + 1) * outputSize)),
        );
      }
      context.count('predicted', rows);
    }
  }

  close(): void {
    this.#predictor?.dispose();
    this.#predictor = undefined;
  }
}
