/**
 * How a prediction cluster splits a saved TF.js layers model (a `model.json` + weights directory)
 * across its parameter servers, computed from `model.json` alone so that every node agrees
 * without talking about it:
 *
 * - the embedding table: the weights of the one Embedding layer fed directly by the model's
 *   input, split by rows (shard s holds rows `rowRange(rows, shards, s)`), so a table larger than
 *   one process's share is served; workers pull only the rows a batch uses.
 * - dense variables: every other weight, whole, placed on shards as training places them
 *   (`shardVariables`); workers pull them once per model version.
 *
 * The worker computes with the pulled rows alone (serving-model.ts): its model is the
 * checkpoint's topology with the table's `input_dim` replaced by a per-batch capacity and the
 * batch's ids renumbered 0 … k−1. That is exact only when the ids reach the table directly, so
 * the plan refuses other shapes with a {@link ServingModelError} naming the layer.
 */
import { MillraceError } from '@millrace/core';
import type { io } from '@tensorflow/tfjs-core';
import { readModelJson } from './model-io.js';
import { rowRange, shapeFingerprint, shardVariables, variableSize } from './sharding.js';

/** A saved model that a prediction cluster cannot serve; the message names the layer and why. */
export class ServingModelError extends MillraceError {
  readonly directory: string;
  readonly layer: string | undefined;

  constructor(directory: string, layer: string | undefined, message: string) {
    super(
      'CONFIG_INVALID',
      `The prediction cluster cannot serve the model in ${directory}${layer ? ` (layer '${layer}')` : ''}: ${message}`,
    );
    this.name = 'ServingModelError';
    this.directory = directory;
    this.layer = layer;
  }
}

/** One weight of the saved model and where its float32 values lie in the weights files. */
export interface PlannedVariable {
  /** The weight's name in the manifest (a layer variable's `originalName`). */
  name: string;
  shape: number[];
  /** Byte offset in the weights files, concatenated in manifest order. */
  byteOffset: number;
}

export interface EmbeddingTable extends PlannedVariable {
  /** The Embedding layer holding the table. */
  layer: string;
  rows: number;
  dim: number;
}

export interface ServingPlan {
  directory: string;
  /** The row-split table; undefined for a model without an input-fed Embedding layer. */
  table: EmbeddingTable | undefined;
  /** Every other weight, in manifest order. */
  dense: PlannedVariable[];
  /** Per shard, indices into `dense` it holds, ascending. */
  denseByShard: number[][];
  shards: number;
  /** The weights' shapes, compared at HELLO and between model versions. */
  fingerprint: string;
  /** The model's topology, which the worker rebuilds with a smaller table. */
  topology: ModelTopology;
  /** The weight files in the order their bytes are concatenated. */
  weightFiles: string[];
}

export interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name?: string };
  inbound_nodes?: unknown[];
}

export interface ModelTopology {
  class_name: string;
  config: { layers: LayerJson[]; input_layers?: unknown[]; [key: string]: unknown };
  [key: string]: unknown;
}

/** Reads `directory`'s model.json and plans it over `shards` parameter servers. */
export async function planServing(directory: string, shards: number): Promise<ServingPlan> {
  const json = await readModelJson(directory);
  if (json.format === 'graph-model') {
    throw new ServingModelError(
      directory,
      undefined,
      'it is a graph model; a prediction cluster serves layers models',
    );
  }
  const topology = json.modelTopology as ModelTopology;
  if (!Array.isArray(topology?.config?.layers)) {
    throw new ServingModelError(directory, undefined, 'model.json has no layer list in its topology');
  }
  const variables: PlannedVariable[] = [];
  const weightFiles: string[] = [];
  let byteOffset = 0;
  for (const group of json.weightsManifest!) {
    weightFiles.push(...group.paths);
    for (const spec of group.weights) {
      checkFloat32(directory, spec);
      variables.push({ name: spec.name, shape: [...spec.shape], byteOffset });
      byteOffset += variableSize(spec.shape) * 4;
    }
  }
  const tableLayer = inputFedEmbedding(directory, topology);
  let table: EmbeddingTable | undefined;
  if (tableLayer) {
    const index = variables.findIndex((variable) => variable.name.startsWith(`${tableLayer}/`));
    const variable = variables[index];
    if (variable?.shape.length !== 2) {
      throw new ServingModelError(
        directory,
        tableLayer,
        'its embedding table is missing from the weights manifest',
      );
    }
    table = { ...variable, layer: tableLayer, rows: variable.shape[0]!, dim: variable.shape[1]! };
    variables.splice(index, 1);
  }
  return {
    directory,
    table,
    dense: variables,
    denseByShard: shardVariables(variables, shards),
    shards,
    fingerprint: shapeFingerprint(table ? [table, ...variables] : variables),
    topology,
    weightFiles,
  };
}

/** The rows of the table that `shard` holds (all of `[0, 0)` without a table). */
export function shardRows(plan: ServingPlan, shard: number): { start: number; end: number } {
  return plan.table ? rowRange(plan.table.rows, plan.shards, shard) : { start: 0, end: 0 };
}

function checkFloat32(directory: string, spec: io.WeightsManifestEntry): void {
  if (spec.dtype !== 'float32' || spec.quantization) {
    throw new ServingModelError(
      directory,
      undefined,
      `weight '${spec.name}' is ${spec.quantization ? `quantized (${spec.quantization.dtype})` : spec.dtype}; the cluster serves float32 weights`,
    );
  }
}

function layerName(layer: LayerJson): string {
  return layer.name ?? layer.config.name ?? layer.class_name;
}

/** The names of the layers a functional model's layer takes its inputs from. */
function inboundLayers(layer: LayerJson): string[] {
  const names: string[] = [];
  const visit = (node: unknown): void => {
    if (!Array.isArray(node)) return;
    if (typeof node[0] === 'string') names.push(node[0]);
    else for (const child of node) visit(child);
  };
  visit(layer.inbound_nodes ?? []);
  return names;
}

/**
 * The Embedding layer the model's input feeds, or undefined when the model has none. Refused:
 * an Embedding layer fed by another layer (its ids are computed, not the record's), more than one
 * model input, and an input that also feeds other layers (they would see renumbered ids).
 */
function inputFedEmbedding(directory: string, topology: ModelTopology): string | undefined {
  const layers = topology.config.layers;
  const embeddings = layers.filter((layer) => layer.class_name === 'Embedding');
  if (topology.class_name === 'Sequential') {
    // Keras writes the input as a leading InputLayer; TF.js puts it on the first layer.
    const first = layers.find((layer) => layer.class_name !== 'InputLayer');
    embeddings.slice(1).forEach(refuseInner(directory));
    if (embeddings[0] && embeddings[0] !== first) refuseInner(directory)(embeddings[0]);
    return embeddings[0] ? layerName(embeddings[0]) : undefined;
  }
  const inputs = layers.filter((layer) => layer.class_name === 'InputLayer').map(layerName);
  if (inputs.length > 1) {
    throw new ServingModelError(
      directory,
      inputs[1],
      `the model has ${inputs.length} inputs (${inputs.join(', ')}); the cluster serves one input of embedding ids`,
    );
  }
  const fedByInput = (layer: LayerJson) => inboundLayers(layer).some((name) => inputs.includes(name));
  for (const embedding of embeddings) if (!fedByInput(embedding)) refuseInner(directory)(embedding);
  const consumers = layers.filter(fedByInput);
  const other = consumers.find((layer) => layer.class_name !== 'Embedding');
  if (embeddings.length > 0 && other) {
    throw new ServingModelError(
      directory,
      layerName(other),
      `the model input feeds this ${other.class_name} layer besides the Embedding layer; a non-embedding model input cannot be served (workers renumber the ids of each batch)`,
    );
  }
  if (consumers.length > 1) {
    throw new ServingModelError(
      directory,
      layerName(consumers[1]!),
      'the model input feeds more than one Embedding layer; the cluster splits one table by rows',
    );
  }
  return embeddings[0] ? layerName(embeddings[0]) : undefined;
}

function refuseInner(directory: string): (layer: LayerJson) => never {
  return (layer) => {
    throw new ServingModelError(
      directory,
      layerName(layer),
      'this Embedding layer is not fed directly by the model input; the cluster serves only Embedding layers whose ids come straight from the record',
    );
  };
}
