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
import type { Logger, ModelVersion, ModelVersionRejectedError } from '@millrace/core';
import type { OperatorFactory, StreamOperator, SubtaskContext } from '@millrace/dataflow';
import type { BackendName } from './backend.js';
import { ModelFollower, type ModelVersionPolicy, type VersionedModel } from './model-follower.js';
import { ModelPredictor } from './model-predictor.js';

/** A held-out set for the gate: `count` rows of features and labels, row-major. */
export interface HeldOutSet {
  features: Float32Array;
  labels: Float32Array;
  count: number;
}

/** A model version as the gate sees it: its held-out loss (lower is better). */
export interface GatedVersion {
  /** Undefined for the starting model given by `modelDirectory`. */
  version: ModelVersion | undefined;
  /** Binary cross-entropy on the held-out set for a one-output model, mean squared error otherwise. */
  heldOutLoss: number;
}

export interface FollowOptions {
  /** The training cluster's checkpoint directory (the trainer publishes versions under `versions/`). */
  directory: string;
  /** `latest` (default): serve each newest version once loaded; `{ everyVersions: n }`: one in n. */
  policy?: ModelVersionPolicy;
  /** How often the versions directory is read. Default 100 ms. */
  pollMs?: number;
  /**
   * Decides from the held-out loss whether a new version is served; a rejected version never is.
   * `serving` is undefined before the first version.
   */
  gate?: {
    heldOut: HeldOutSet;
    accept(candidate: GatedVersion, serving: GatedVersion | undefined): boolean;
  };
  /** Without `modelDirectory`, how long `open` waits for the first servable version. Default 120 s. */
  firstVersionTimeoutMs?: number;
  /** Where refusals (warn) and swaps (info) are logged. Default: warnings to the console. */
  logger?: Logger;
}

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

const consoleWarnings: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message, fields) => console.warn(`predictWithTensorflow: ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`predictWithTensorflow: ${message}`, fields ?? ''),
};

class PredictionOperator<I, O> implements StreamOperator<I, O> {
  readonly #options: PredictionOptions<I, O>;
  #serving: VersionedModel<ModelPredictor> | undefined;
  #follower: ModelFollower<ModelPredictor> | undefined;
  #context: SubtaskContext<O> | undefined;
  #lastYield = performance.now();
  /** Held-out loss of each version the gate accepted, by version number (0: the starting model). */
  readonly #gatedLoss = new Map<number, number>();

  constructor(options: PredictionOptions<I, O>) {
    this.#options = options;
  }

  async open(context: SubtaskContext<O>): Promise<void> {
    this.#context = context;
    const { follow, backend } = this.#options;
    if (this.#options.modelDirectory !== undefined) {
      const model = await ModelPredictor.load({ modelDirectory: this.#options.modelDirectory, backend });
      this.#serving = { version: undefined, model };
      if (follow?.gate) this.#gatedLoss.set(0, heldOutLoss(model, follow.gate.heldOut));
    }
    if (!follow) return;
    const logger = follow.logger ?? consoleWarnings;
    const gate = follow.gate;
    this.#follower = new ModelFollower<ModelPredictor>({
      directory: follow.directory,
      policy: follow.policy,
      pollMs: follow.pollMs,
      logger,
      load: (version) => ModelPredictor.load({ modelDirectory: version.path, backend }),
      incompatibility: (candidate, serving) =>
        candidate.featureSize !== serving.featureSize || candidate.outputSize !== serving.outputSize
          ? `it takes ${candidate.featureSize} values per row and gives ${candidate.outputSize}; the serving model takes ${serving.featureSize} and gives ${serving.outputSize}`
          : undefined,
      gate: gate
        ? (candidate, serving) => {
            const loss = heldOutLoss(candidate.model, gate.heldOut);
            const servingLoss = serving ? this.#gatedLoss.get(serving.version?.version ?? 0) : undefined;
            const accepted = gate.accept(
              { version: candidate.version, heldOutLoss: loss },
              serving && servingLoss !== undefined
                ? { version: serving.version, heldOutLoss: servingLoss }
                : undefined,
            );
            if (accepted) this.#gatedLoss.set(candidate.version?.version ?? 0, loss);
            return accepted;
          }
        : undefined,
      dispose: (model) => model.dispose(),
      onRefused: (error: ModelVersionRejectedError) => {
        context.count('model_versions_refused');
        context.publish({
          type: 'model-version-refused',
          version: error.version,
          reason: error.reason,
          message: error.message,
        });
      },
    });
    this.#follower.start(this.#serving);
    if (!this.#serving) {
      await this.#follower.waitForReady(follow.firstVersionTimeoutMs ?? 120_000, context.signal);
      this.#swap();
    }
  }

  /** Takes the newest ready version, if any; only ever called between two batches. */
  #swap(): void {
    const next = this.#follower?.take();
    if (!next) return;
    const previous = this.#serving;
    this.#serving = next;
    previous?.model.dispose();
    const context = this.#context!;
    context.count('model_swaps');
    context.publish({
      type: 'model-version-served',
      version: next.version?.version,
      step: next.version?.step,
      publishedAt: next.version?.publishedAt,
      servedAt: new Date().toISOString(),
    });
    this.#options.follow?.logger?.info('serving model version', {
      version: next.version?.version,
      step: next.version?.step,
    });
  }

  processBatch(batch: readonly I[]): void | Promise<void> {
    // A busy pipeline can run for seconds on promise callbacks alone, and timers and file reads
    // wait for the event loop to come round: the follower's polling and loading among them. So
    // a following operator lets the loop turn every `yieldEveryMs` (a few microseconds each time).
    if (this.#follower && performance.now() - this.#lastYield >= yieldEveryMs) {
      return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.#lastYield = performance.now();
        this.#predictBatch(batch);
      });
    }
    this.#predictBatch(batch);
  }

  #predictBatch(batch: readonly I[]): void {
    this.#swap();
    if (!this.#serving) throw new Error('predictWithTensorflow: no model is serving (open did not finish)');
    const { model: predictor, version } = this.#serving;
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
    await this.#follower?.close();
    this.#follower = undefined;
    this.#serving?.model.dispose();
    this.#serving = undefined;
  }
}

/** Binary cross-entropy for a one-output model, mean squared error otherwise. */
function heldOutLoss(predictor: ModelPredictor, heldOut: HeldOutSet): number {
  const predictions = predictor.predict(heldOut.features, heldOut.count);
  let sum = 0;
  if (predictor.outputSize === 1) {
    for (let row = 0; row < heldOut.count; row++) {
      const p = Math.min(1 - 1e-7, Math.max(1e-7, predictions[row]!));
      const y = heldOut.labels[row]!;
      sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    }
    return sum / heldOut.count;
  }
  for (let index = 0; index < predictions.length; index++) {
    const difference = predictions[index]! - heldOut.labels[index]!;
    sum += difference * difference;
  }
  return sum / predictions.length;
}
