/**
 * A prediction worker's model: the checkpoint's topology with the embedding table cut down to a
 * per-batch capacity (the most distinct ids a batch can hold). For each batch the worker
 * renumbers the batch's ids 0 … k−1, writes the k pulled rows into the table (the rest zero; no
 * id reaches them) and predicts. An Embedding layer fed by the model input only gathers rows,
 * so the outputs are those of the whole model; serving-plan.ts refuses every other shape.
 * Dense variables are written once per model version.
 */
import { MillraceError } from '@millrace/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerJson, ServingPlan } from './serving-plan.js';

/** A record's features are not valid ids of the embedding table. */
export class EmbeddingIdError extends MillraceError {
  readonly layer: string;
  readonly id: number;

  constructor(layer: string, id: number, rows: number, position: number) {
    super(
      'OPERATOR_FAILED',
      `input record ${position} has id ${id} for Embedding layer '${layer}', which has rows 0 … ${rows - 1}; ids must be integers in that range`,
    );
    this.name = 'EmbeddingIdError';
    this.layer = layer;
    this.id = id;
  }
}

type LayerVariable = tfl.LayersModel['weights'][number];

/** A batch's ids renumbered: `local` is the model input, `rows` the table rows to pull, ascending. */
export interface RemappedBatch {
  local: Float32Array;
  rows: Uint32Array;
}

export class ServingModel {
  /** Values per input row (ids per record). */
  readonly inputLength: number;
  readonly outputSize: number;
  /** Distinct ids a batch may hold: the size of the cut-down table. */
  readonly capacity: number;
  readonly #plan: ServingPlan;
  readonly #model: tfl.LayersModel;
  readonly #table: LayerVariable | undefined;
  readonly #dense: LayerVariable[];
  #denseVersion: number | undefined;

  private constructor(plan: ServingPlan, model: tfl.LayersModel, capacity: number) {
    this.#plan = plan;
    this.#model = model;
    this.capacity = capacity;
    this.inputLength = (model.inputs[0]!.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
    this.outputSize = (model.outputs[0]!.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
    const byName = new Map(model.weights.map((weight) => [weight.originalName, weight]));
    const find = (name: string) => {
      const weight = byName.get(name);
      if (!weight)
        throw new MillraceError(
          'CONFIG_INVALID',
          `the serving model has no weight '${name}' of ${plan.directory}`,
        );
      return weight;
    };
    this.#table = plan.table ? find(plan.table.name) : undefined;
    this.#dense = plan.dense.map((variable) => find(variable.name));
  }

  /**
   * Builds the model of `plan`'s topology for batches of up to `batchSize` records. The input
   * length comes from the topology, so the table is cut to `batchSize × inputLength` rows.
   */
  static async build(plan: ServingPlan, batchSize: number): Promise<ServingModel> {
    const topology = structuredClone(plan.topology);
    let capacity = 0;
    if (plan.table) {
      const layer = topology.config.layers.find(
        (candidate: LayerJson) => (candidate.name ?? candidate.config.name) === plan.table!.layer,
      )!;
      // Build once with a one-row table to learn the input length, then with the real capacity.
      layer.config.input_dim = 1;
      const probe = await tfl.models.modelFromJSON({ modelTopology: topology } as never);
      const inputLength = (probe.inputs[0]!.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
      probe.dispose();
      capacity = batchSize * inputLength;
      layer.config.input_dim = capacity;
    }
    const model = await tfl.models.modelFromJSON({ modelTopology: topology } as never);
    return new ServingModel(plan, model, capacity);
  }

  /**
   * Checks `count` records' ids and renumbers them 0 … k−1 in ascending order of id;
   * `firstPosition` is the input position of the first record, for messages.
   */
  remap(ids: Float32Array, count: number, firstPosition: number): RemappedBatch {
    const table = this.#plan.table;
    if (!table) return { local: ids, rows: new Uint32Array(0) };
    const distinct = new Set<number>();
    for (let index = 0; index < ids.length; index++) {
      const id = ids[index]!;
      if (!Number.isInteger(id) || id < 0 || id >= table.rows) {
        const record = Math.floor(index / (ids.length / count));
        throw new EmbeddingIdError(table.layer, id, table.rows, firstPosition + record);
      }
      distinct.add(id);
    }
    const rows = Uint32Array.from(distinct).sort();
    const local = new Float32Array(ids.length);
    const position = new Map<number, number>();
    for (const [index, row] of rows.entries()) position.set(row, index);
    for (let index = 0; index < ids.length; index++) local[index] = position.get(ids[index]!)!;
    return { local, rows };
  }

  /** Writes `version`'s dense variables (`values[i]` for `plan.dense[i]`) unless they are in already. */
  useDense(version: number, values: readonly Float32Array[]): void {
    if (this.#denseVersion === version) return;
    tf.tidy(() => {
      for (const [index, variable] of this.#dense.entries()) {
        variable.write(tf.tensor(values[index]!, variable.shape as number[]));
      }
    });
    this.#denseVersion = version;
  }

  get denseVersion(): number | undefined {
    return this.#denseVersion;
  }

  /** Predicts `count` records from their renumbered ids and the pulled rows (k × dim, in `rows` order). */
  predict(batch: RemappedBatch, count: number, tableRows: Float32Array): Float32Array {
    return tf.tidy(() => {
      if (this.#table && this.#plan.table) {
        const padded = new Float32Array(this.capacity * this.#plan.table.dim);
        padded.set(tableRows);
        this.#table.write(tf.tensor2d(padded, [this.capacity, this.#plan.table.dim]));
      }
      const input = tf.tensor(batch.local, [count, ...(this.#model.inputs[0]!.shape.slice(1) as number[])]);
      const output = this.#model.predict(input);
      return Float32Array.from((Array.isArray(output) ? output[0]! : output).dataSync());
    });
  }

  dispose(): void {
    this.#model.dispose();
  }
}
