/**
 * A dataflow operator that predicts with a TF.js model in the pipeline's own process: each
 * subtask loads the model in `open`, then predicts every incoming batch of records with one
 * `predict` call per `maxBatchSize` rows and emits one result per record, in order.
 *
 * With `follow`, the operator also follows the model versions a training cluster publishes
 * (`publishModelVersion`, the TF.js trainer does it at every checkpoint): each new version is
 * loaded in the background and swapped in between two batches, so every batch is scored by
 * exactly one version and a swap drops, repeats or reorders nothing.
 *
 * ```ts
 * scored = clicks.transform(predictWithTensorflow({
 *   follow: { directory: checkpointDirectory },
 *   features: (click) => click.features,
 *   result: (click, [probability], version) => ({ ...click, probability, version: version?.version }),
 * }), { name: 'predict', parallelism: 2 });
 * ```
 */
import type { ModelVersion } from '@millrace/core';
import type { OperatorFactory, StreamOperator, SubtaskContext } from '@millrace/dataflow';
import { FollowedModel, type FollowOptions } from '@millrace/runner-kit';
import type { BackendName } from './backend.js';
import { ModelPredictor } from './model-predictor.js';

export type { FollowOptions, GatedVersion, HeldOutSet } from '@millrace/runner-kit';

export interface PredictionOptions<I, O> {
  /** TF.js model directory (layers or graph model), loaded once per subtask. Optional with `follow`. */
  modelDirectory?: string;
  /** Follow the model versions a training cluster publishes, swapping each in between two batches. */
  follow?: FollowOptions;
  /** The model's input row for a record (as many values as the model's input takes per row). */
  features(record: I): ArrayLike<number>;
  /**
   * What to emit for a record, its prediction (the model's output row) and the version that
   * scored it (undefined for the starting `modelDirectory`). Default: `{ record, prediction, version }`.
   */
  result?(record: I, prediction: Float32Array, version: ModelVersion | undefined): O;
  /** Backend: wasm (default) or cpu. wasm falls back to cpu when it cannot start. */
  backend?: BackendName;
  /** Largest number of rows per `predict` call; bigger incoming batches are split. Default 1024. */
  maxBatchSize?: number;
}

export type PredictionResult<I> = {
  record: I;
  prediction: Float32Array;
  version: ModelVersion | undefined;
};

export function predictWithTensorflow<I, O = PredictionResult<I>>(
  options: PredictionOptions<I, O>,
): OperatorFactory<I, O> {
  if (options.modelDirectory === undefined && options.follow === undefined) {
    throw new TypeError('predictWithTensorflow needs options.modelDirectory, options.follow or both');
  }
  return () => new PredictionOperator(options);
}

/** How often a following operator lets the event loop turn, so the follower can poll and load. */
const yieldEveryMs = 10;

class PredictionOperator<I, O> implements StreamOperator<I, O> {
  readonly #options: PredictionOptions<I, O>;
  #model: FollowedModel<ModelPredictor> | undefined;
  #context: SubtaskContext<O> | undefined;
  #lastYield = performance.now();

  constructor(options: PredictionOptions<I, O>) {
    this.#options = options;
  }

  async open(context: SubtaskContext<O>): Promise<void> {
    this.#context = context;
    const { follow, backend, modelDirectory } = this.#options;
    const starting =
      modelDirectory === undefined ? undefined : await ModelPredictor.load({ modelDirectory, backend });
    this.#model = await FollowedModel.open<ModelPredictor>({
      operator: 'predictWithTensorflow',
      starting,
      follow,
      events: context,
      load: (version) => ModelPredictor.load({ modelDirectory: version.path, backend }),
      incompatibility: (candidate, serving) =>
        candidate.featureSize !== serving.featureSize || candidate.outputSize !== serving.outputSize
          ? `it takes ${candidate.featureSize} values per row and gives ${candidate.outputSize}; the serving model takes ${serving.featureSize} and gives ${serving.outputSize}`
          : undefined,
      predictHeldOut: (model, heldOut) => model.predict(heldOut.features, heldOut.count),
      dispose: (model) => model.dispose(),
    });
  }

  processBatch(batch: readonly I[]): void | Promise<void> {
    // A busy pipeline can run for seconds on promise callbacks alone, and timers and file reads
    // wait for the event loop to come round: the follower's polling and loading among them. So
    // a following operator lets the loop turn every `yieldEveryMs` (a few microseconds each time).
    if (this.#model?.following && performance.now() - this.#lastYield >= yieldEveryMs) {
      return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.#lastYield = performance.now();
        this.#predictBatch(batch);
      });
    }
    this.#predictBatch(batch);
  }

  #predictBatch(batch: readonly I[]): void {
    if (!this.#model) throw new Error('predictWithTensorflow: no model is serving (open did not finish)');
    this.#model.swap();
    const { model: predictor, version } = this.#model.serving;
    const context = this.#context!;
    const limit = this.#options.maxBatchSize ?? 1024;
    const result =
      this.#options.result ??
      ((record: I, prediction: Float32Array, scoredBy: ModelVersion | undefined) =>
        ({ record, prediction, version: scoredBy }) as O);
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
          result(batch[start + row]!, predictions.slice(row * outputSize, (row + 1) * outputSize), version),
        );
      }
      context.count('predicted', rows);
    }
  }

  async close(): Promise<void> {
    await this.#model?.close();
    this.#model = undefined;
  }
}
