/**
 * `onnxruntime-node` is an optional peer dependency: only pipelines that predict in-process need
 * it, and its native binary is large. It is imported on first use, and a missing install becomes
 * a DependencyMissingError that says how to add it.
 *
 * The shapes below are the small part of its API Millrace uses, written out so that this
 * package's types do not require onnxruntime-node to be installed.
 */
import { DependencyMissingError } from '@millrace/core';

export interface OnnxTensor {
  readonly dims: readonly number[];
  readonly type: string;
  readonly data: unknown;
}

/** An input's or output's declared type and shape (symbolic dimensions are names, e.g. `batch`). */
export interface OnnxValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

export interface OnnxSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Declared inputs and outputs (onnxruntime-node 1.21 and later). */
  readonly inputMetadata?: readonly OnnxValueMetadata[];
  readonly outputMetadata?: readonly OnnxValueMetadata[];
  run(feeds: Record<string, OnnxTensor>): Promise<Record<string, OnnxTensor>>;
  release(): Promise<void>;
}

export interface OnnxSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
}

export interface OnnxRuntime {
  InferenceSession: {
    create(model: string | Uint8Array, options?: OnnxSessionOptions): Promise<OnnxSession>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OnnxTensor;
}

/** Imports onnxruntime; tests inject a different importer to simulate a missing install. */
export type OnnxRuntimeImporter = () => Promise<OnnxRuntime>;

export const installHint =
  'In-process ONNX prediction needs the optional peer dependency onnxruntime-node. Install it with\n' +
  '  npm install onnxruntime-node@^1.30\n' +
  "and put 'onnxruntime-node-install=skip' in .npmrc so its install script does not try to download CUDA providers.";

const importOnnxRuntimeNode: OnnxRuntimeImporter = async () => {
  const module = (await import('onnxruntime-node')) as unknown as OnnxRuntime & { default?: OnnxRuntime };
  return module.InferenceSession ? module : module.default!;
};

let cached: Promise<OnnxRuntime> | undefined;

export async function loadOnnxRuntime(importer?: OnnxRuntimeImporter): Promise<OnnxRuntime> {
  if (importer) return wrapMissing(importer());
  cached ??= wrapMissing(importOnnxRuntimeNode());
  return cached.catch((error) => {
    cached = undefined; // a later call may find it installed
    throw error;
  });
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function wrapMissing(loading: Promise<OnnxRuntime>): Promise<OnnxRuntime> {
  try {
    return await loading;
  } catch (error) {
    // Only "not installed" gets the install hint; a broken install keeps its own error.
    if (isModuleNotFound(error))
      throw new DependencyMissingError('onnxruntime-node', installHint, { cause: error });
    throw error;
  }
}
