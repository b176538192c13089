/**
 * A dataflow operator that predicts with an ONNX model inside the pipeline's own process (the
 * seed's "prediction in the JVM without Python"): each subtask loads the model once in `open`,
 * predicts every incoming batch with one session run per `maxBatchSize` rows and emits one result
 * per record, in order. A torch model gets here through `torch.onnx.export`.
 *
 * With `follow`, the operator also follows the model versions a training cluster publishes in a
 * checkpoint directory (format `onnx`, see `publishModelVersion`): each new version is loaded in
 * the background and swapped in between two batches, with the same policies, gate and refusals
 * as `predictWithTensorflow` (both use runner-kit's `FollowedModel`). A version whose input or
 * output shape differs from the serving model's is refused and the serving model keeps serving.
 *
 * ```ts
 * const scored = clicks.transform(
 *   predictWithOnnx({
 *     follow: { directory: checkpointDirectory },
 *     features: (click) => click.features,
 *     result: (click, [probability], version) => ({ ...click, probability, version: version?.version }),
 *   }),
 *   { name: 'predict', parallelism: 2 },
 * );
 * ```
 */
import { ConfigError, type ModelVersion } from '@millrace/core';
import type { OperatorFactory, StreamOperator, SubtaskContext } from '@millrace/dataflow';
import { FollowedModel, type FollowOptions } from '@millrace/runner-kit';
import { loadOnnxModel, type OnnxModel, type OnnxModelOptions } from './onnx-model.js';

/** The `format` of an ONNX model version's manifest. */
export const onnxModelVersionFormat = 'onnx';

export interface OnnxPredictionOptions<I, O> extends Omit<OnnxModelOptions, 'model'> {
  /** The model: a path to an `.onnx` file, or its bytes. Optional with `follow`. */
  model?: string | Uint8Array | undefined;
  /** Follow the model versions a training cluster publishes, swapping each in between two batches. */
  follow?: FollowOptions | undefined;
  /** The model's input row for a record. */
  features(record: I): ArrayLike<number>;
  /**
   * What to emit for a record, its prediction (the model's output row) and the version that
   * scored it (undefined for the starting `model`). Default: `{ record, prediction, version }`.
   */
  result?(record: I, prediction: Float32Array, version: ModelVersion | undefined): O;
  /** Largest number of rows per session run; bigger incoming batches are split. Default 1024. */
  maxBatchSize?: number | undefined;
}

export type OnnxPredictionResult<I> = {
  record: I;
  prediction: Float32Array;
  version: ModelVersion | undefined;
};

export function predictWithOnnx<I, O = OnnxPredictionResult<I>>(
  options: OnnxPredictionOptions<I, O>,
): OperatorFactory<I, O> {
  const maxBatchSize = options.maxBatchSize ?? 1024;
  const issues = [];
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    issues.push({ path: 'maxBatchSize', message: `must be a positive integer, got ${maxBatchSize}` });
  }
  if (typeof options.features !== 'function') {
    issues.push({ path: 'features', message: 'must be a function from a record to its feature row' });
  }
  if (options.model === undefined && options.follow === undefined) {
    issues.push({ path: 'model', message: 'give a model, follow: { directory } or both' });
  }
  if (issues.length) throw new ConfigError(issues, { subject: 'predictWithOnnx options' });
  return () => new OnnxPredictionOperator(options, maxBatchSize);
}

/** A shape without its first (batch) dimension, for comparing two models' row widths. */
function rowShape(shape: readonly (number | string)[] | undefined): string {
  return shape ? JSON.stringify(shape.slice(1)) : 'undeclared';
}

class OnnxPredictionOperator<I, O> implements StreamOperator<I, O> {
  #model: FollowedModel<OnnxModel> | undefined;
  #context: SubtaskContext<O> | undefined;

  constructor(
    readonly options: OnnxPredictionOptions<I, O>,
    readonly maxBatchSize: number,
  ) {}

  async open(context: SubtaskContext<O>): Promise<void> {
    this.#context = context;
    const { model, follow } = this.options;
    const starting = model === undefined ? undefined : await loadOnnxModel({ ...this.options, model });
    this.#model = await FollowedModel.open<OnnxModel>({
      operator: 'predictWithOnnx',
      starting,
      follow,
      events: context,
      load: async (version) => {
        if (version.format !== onnxModelVersionFormat) {
          throw new Error(
            `it is stored as '${version.format}'; predictWithOnnx serves '${onnxModelVersionFormat}' versions (export with torch.onnx.export and publish with format '${onnxModelVersionFormat}')`,
          );
        }
        return loadOnnxModel({ ...this.options, model: version.path });
      },
      incompatibility: (candidate, serving) => {
        const [candidateIn, candidateOut] = [rowShape(candidate.inputShape), rowShape(candidate.outputShape)];
        const [servingIn, servingOut] = [rowShape(serving.inputShape), rowShape(serving.outputShape)];
        return candidateIn !== servingIn || candidateOut !== servingOut
          ? `its rows are ${candidateIn} in and ${candidateOut} out; the serving model's are ${servingIn} in and ${servingOut} out`
          : undefined;
      },
      predictHeldOut: async (onnx, heldOut) => {
        const width = heldOut.features.length / heldOut.count;
        const rows = Array.from({ length: heldOut.count }, (_, row) =>
          heldOut.features.subarray(row * width, (row + 1) * width),
        );
        const predictions = await onnx.predictBatch(rows);
        const out = new Float32Array(predictions.reduce((sum, row) => sum + row.length, 0));
        let offset = 0;
        for (const row of predictions) {
          out.set(row, offset);
          offset += row.length;
        }
        return out;
      },
      dispose: (onnx) => onnx.release(),
    });
  }

  async processBatch(batch: readonly I[]): Promise<void> {
    const followed = this.#model!;
    followed.swap(); // between two batches: the whole batch is scored by one version
    const { model, version } = followed.serving;
    const context = this.#context!;
    const result =
      this.options.result ??
      ((record: I, prediction: Float32Array, scoredBy: ModelVersion | undefined) =>
        ({ record, prediction, version: scoredBy }) as O);
    for (let start = 0; start < batch.length; start += this.maxBatchSize) {
      const records = batch.slice(start, start + this.maxBatchSize);
      const predictions = await model.predictBatch(records.map((record) => this.options.features(record)));
      records.forEach((record, row) => {
        context.output.emit(result(record, predictions[row]!, version));
      });
      context.count('predicted', records.length);
    }
  }

  async close(): Promise<void> {
    await this.#model?.close();
    this.#model = undefined;
  }
}
