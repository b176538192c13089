/**
 * TensorFlow.js models on disk, without tfjs-node: a `model.json` (topology + weights manifest)
 * and one `weights.bin`, exactly the layout `tf.loadLayersModel('file://…')` reads in tfjs-node and
 * the browser's `tf.io` writes. Checkpoints are such directories plus a `checkpoint.json` pointer.
 */
import { readFileSync, type Stats, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MillraceError } from '@millrace/core';
import { publishModelVersion } from '@millrace/runner-kit';
import type * as tf from '@tensorflow/tfjs-core';
import { io } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** A model directory could not be read: missing, unreadable or not a TF.js model. */
export class ModelLoadError extends MillraceError {
  readonly directory: string;

  constructor(directory: string, message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', `Cannot load the TensorFlow.js model in ${directory}: ${message}`, options);
    this.name = 'ModelLoadError';
    this.directory = directory;
  }
}

export const modelFileName = 'model.json';
export const weightsFileName = 'weights.bin';

/** An IOHandler that writes `model.json` + `weights.bin` into `directory`. */
export function directorySaver(directory: string): io.IOHandler {
  return {
    async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
      await mkdir(directory, { recursive: true });
      const weights = artifacts.weightData
        ? Buffer.from(io.CompositeArrayBuffer.join(artifacts.weightData))
        : Buffer.alloc(0);
      const modelJson = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        trainingConfig: artifacts.trainingConfig,
        weightsManifest: [{ paths: [weightsFileName], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFile(join(directory, weightsFileName), weights);
      await writeFile(join(directory, modelFileName), JSON.stringify(modelJson));
      return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
  [key: string]: unknown;
}

/** Reads and checks `model.json`; every problem becomes a ModelLoadError that says what to fix. */
// Model files are read synchronously: a prediction operator loads new versions while its
// pipeline keeps the event loop busy, and an asynchronous read waits for a loop turn per call
// (seconds on a busy pipeline). The reads are a copy of the file either way.
export async function readModelJson(directory: string): Promise<ModelJson> {
  const info = statOrUndefined(directory);
  if (!info) throw new ModelLoadError(directory, 'the directory does not exist');
  if (!info.isDirectory()) throw new ModelLoadError(directory, 'it is not a directory');
  let text: string;
  try {
    text = readFileSync(join(directory, modelFileName), 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    throw new ModelLoadError(directory, `no readable ${modelFileName} (${code})`, { cause });
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (cause) {
    throw new ModelLoadError(directory, `${modelFileName} is not valid JSON`, { cause });
  }
  if (typeof json !== 'object' || json === null || !json.modelTopology) {
    throw new ModelLoadError(
      directory,
      `${modelFileName} has no modelTopology; is it a TensorFlow.js model?`,
    );
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw new ModelLoadError(directory, `${modelFileName} has no weightsManifest`);
  }
  return json;
}

/** An IOHandler that loads a model directory written by {@link directorySaver} or TF.js tools. */
export function directoryLoader(directory: string): io.IOHandler {
  return {
    async load(): Promise<io.ModelArtifacts> {
      const json = await readModelJson(directory);
      const manifest = json.weightsManifest!;
      const weightSpecs: io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of manifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) {
          try {
            buffers.push(readFileSync(join(directory, path)));
          } catch (cause) {
            throw new ModelLoadError(
              directory,
              `weights file '${path}' is missing (${(cause as NodeJS.ErrnoException).code})`,
              { cause },
            );
          }
        }
      }
      const weightData = Buffer.concat(buffers);
      const expected = weightSpecs.reduce((sum, spec) => sum + byteSize(spec), 0);
      if (weightData.byteLength !== expected) {
        throw new ModelLoadError(
          directory,
          `weights hold ${weightData.byteLength} bytes but the manifest describes ${expected}; the files are truncated or mismatched`,
        );
      }
      return io.getModelArtifactsForJSONSync(
        json as unknown as io.ModelJSON,
        weightSpecs,
        weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      );
    },
  };
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function byteSize(spec: io.WeightsManifestEntry): number {
  const elements = spec.shape.reduce((product, dimension) => product * dimension, 1);
  const dtype: string = spec.dtype;
  const width = dtype === 'float16' ? 2 : dtype === 'bool' || dtype === 'uint8' ? 1 : 4;
  const quantized: string | undefined = spec.quantization?.dtype;
  return (quantized ? (quantized === 'uint8' ? 1 : 2) : width) * elements;
}

/** Loads a layers model from a directory, turning TF.js's own failures into a ModelLoadError. */
export async function loadLayersModelFrom(directory: string): Promise<tfl.LayersModel> {
  const json = await readModelJson(directory);
  if (json.format === 'graph-model') {
    throw new ModelLoadError(directory, 'it is a graph model; use loadModelFrom(), which handles both kinds');
  }
  try {
    return await tfl.loadLayersModel(directoryLoader(directory));
  } catch (cause) {
    if (MillraceError.isInstance(cause)) throw cause;
    throw new ModelLoadError(directory, `TensorFlow.js rejected it: ${(cause as Error).message}`, { cause });
  }
}

export async function saveModelTo(model: tfl.LayersModel, directory: string): Promise<void> {
  await model.save(directorySaver(directory));
}

/** The pointer a checkpoint directory keeps to its newest complete checkpoint. */
export interface CheckpointPointer {
  format: 'tfjs-layers-model';
  /** Sub-directory holding `model.json` and `weights.bin`. */
  latest: string;
  /** Global training step (parameter server 0's update count) the checkpoint was taken at. */
  step: number;
  savedAt: string;
  /**
   * Per parameter-server shard, the input positions its values in this checkpoint hold, by worker
   * (`<role>-<index>`: that worker's records 1 … position are in). A restarted shard restores them
   * with its values. Absent for checkpoints of workers without input streams.
   */
  shardPositions?: Record<string, number>[];
}

/**
 * Per worker, the input position every shard holds: the records the whole checkpoint contains
 * (what a model version's `inputPosition` reports).
 */
export function positionsEveryShardHolds(
  shardPositions: readonly Readonly<Record<string, number>>[],
): Record<string, number> {
  const names = new Set(shardPositions.flatMap((positions) => Object.keys(positions)));
  return Object.fromEntries(
    [...names]
      .sort()
      .map((name) => [name, Math.min(...shardPositions.map((positions) => positions[name] ?? 0))]),
  );
}

export const checkpointPointerFile = 'checkpoint.json';

/**
 * Saves `model` as checkpoint `step` under `directory`. The model is written first and the pointer
 * renamed into place last, so a reader (or a crash) never sees a half-written checkpoint; then the
 * checkpoint is published as the next model version (`versions/`). `shardPositions` (per
 * parameter-server shard, the input positions its values hold) goes into the pointer, and the
 * positions every shard holds into the version's `inputPosition`. Resolves with the checkpoint's
 * path once it is durable, or undefined when a newer checkpoint was already in place (this one is
 * then not the one a restart restores). Keeps the two newest checkpoints.
 */
export async function writeCheckpoint(
  model: tfl.LayersModel,
  directory: string,
  step: number,
  shardPositions?: Record<string, number>[],
): Promise<string | undefined> {
  const name = `ckpt-${String(step).padStart(9, '0')}-${process.pid}`;
  const target = join(directory, name);
  await rm(target, { recursive: true, force: true });
  await saveModelTo(model, target);
  const pointer: CheckpointPointer = {
    format: 'tfjs-layers-model',
    latest: name,
    step,
    savedAt: new Date().toISOString(),
    ...(shardPositions ? { shardPositions } : {}),
  };
  // Several workers may write final checkpoints; the pointer only ever moves forward.
  const current = await latestCheckpoint(directory);
  if (current && current.step > step) return undefined;
  const temporary = join(directory, `${checkpointPointerFile}.${process.pid}.tmp`);
  await writeFile(temporary, JSON.stringify(pointer));
  await rename(temporary, join(directory, checkpointPointerFile));
  // Each checkpoint the pointer moves to is a model version that prediction may follow.
  const inputPosition = shardPositions ? positionsEveryShardHolds(shardPositions) : undefined;
  await publishModelVersion(directory, { path: target, format: pointer.format, step, inputPosition });
  const old = (await readdir(directory)).filter((entry) => entry.startsWith('ckpt-') && entry < name).sort();
  for (const entry of old.slice(0, -1)) await rm(join(directory, entry), { recursive: true, force: true });
  return target;
}

/**
 * Removes the input positions from the newest checkpoint's pointer (atomically, by rename): a new
 * run of the job keeps the checkpoint's values but numbers its input from 1 again, so a restart
 * later in that run must not restore the earlier run's positions. Parameter server 0 calls it when
 * it starts a run, before it serves, so no checkpoint of the new run exists yet.
 */
export async function forgetCheckpointPositions(directory: string): Promise<void> {
  const current = await latestCheckpoint(directory);
  if (!current?.shardPositions) return;
  const { path: _path, shardPositions: _positions, ...pointer } = current;
  const temporary = join(directory, `${checkpointPointerFile}.${process.pid}.tmp`);
  await writeFile(temporary, JSON.stringify(pointer));
  await rename(temporary, join(directory, checkpointPointerFile));
}

/** The newest checkpoint in `directory`, or undefined when none was written yet. */
export async function latestCheckpoint(
  directory: string,
): Promise<(CheckpointPointer & { path: string }) | undefined> {
  const text = await readFile(join(directory, checkpointPointerFile), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const pointer = JSON.parse(text) as CheckpointPointer;
  return { ...pointer, path: join(directory, pointer.latest) };
}

/** Values of a model's trainable weights, in `model.trainableWeights` order. */
export function trainableValues(model: tfl.LayersModel): Float32Array[] {
  return model.trainableWeights
    .map((weight) => (weight.read() as tf.Tensor).dataSync() as Float32Array)
    .map((values) => Float32Array.from(values));
}
