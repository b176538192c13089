/**
 * Model versions: how a training cluster tells prediction that a new model exists. A version is
 * a small manifest, one file per version under `<checkpointDirectory>/versions/`, named by its
 * zero-padded number. The file appears by an atomic link of a fully written file, so a reader
 * either sees a whole manifest or none, and the model files it points at were complete before
 * the manifest was written. Engines (TF.js, torch) and prediction operators share this format;
 * core holds the types and the check only, the plugins do the file I/O.
 */
import { z } from 'zod';
import { MillraceError, type MillraceErrorOptions } from './errors.js';

/** Sub-directory of a checkpoint directory that holds the version manifests. */
export const modelVersionsDirectoryName = 'versions';

export const modelVersionSchema = z
  .object({
    specificationVersion: z.literal('v1'),
    /** 1, 2, 3 … in publishing order; never reused. */
    version: z.number().int().positive(),
    /** The model's directory or file (absolute), complete before the manifest was written. */
    path: z.string().min(1),
    /** How the model at `path` is stored, e.g. `tfjs-layers-model`, `torch-state-dict`, `onnx`. */
    format: z.string().min(1),
    /** Global training step the model was taken at. */
    step: z.number().int().min(0),
    /**
     * How far into its input the training had read when the model was taken (per partition or
     * source, as the trainer's checkpoints record it); absent when the trainer does not track it.
     */
    inputPosition: z.record(z.string(), z.number()).optional(),
    /** Held-out metrics the publisher measured, if any (e.g. `eval_loss`). */
    metrics: z.record(z.string(), z.number()).optional(),
    /** ISO time of publishing. */
    publishedAt: z.string(),
  })
  .strict();

export type ModelVersion = z.output<typeof modelVersionSchema>;

/** Why a model version was not served. */
export type ModelVersionRejection = 'unreadable' | 'incompatible' | 'gate-rejected';

/**
 * A published model version was refused: its files are missing or corrupt, it does not fit the
 * model being served (different input or output shape, different format), or the gate said no.
 * The model already serving keeps serving.
 */
export class ModelVersionRejectedError extends MillraceError {
  readonly version: number;
  readonly path: string;
  readonly reason: ModelVersionRejection;

  constructor(
    details: { version: number; path: string; reason: ModelVersionRejection; message: string },
    options: MillraceErrorOptions = {},
  ) {
    super(
      'MODEL_VERSION_REJECTED',
      `Model version ${details.version} (${details.path}) was refused (${details.reason}): ${details.message}; the previous version keeps serving`,
      options,
    );
    this.name = 'ModelVersionRejectedError';
    this.version = details.version;
    this.path = details.path;
    this.reason = details.reason;
  }
}

/** File name of version `version`'s manifest inside the versions directory. */
export function modelVersionFileName(version: number): string {
  return `${String(version).padStart(9, '0')}.json`;
}

/** The version number a manifest file name stands for, or undefined for any other file. */
export function modelVersionOfFileName(name: string): number | undefined {
  const match = /^(\d{9,})\.json$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Checks a manifest's parsed JSON; throws a MillraceError (CONFIG_INVALID) naming what is wrong. */
export function parseModelVersion(value: unknown, source: string): ModelVersion {
  const parsed = modelVersionSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
  throw new MillraceError('CONFIG_INVALID', `${source} is not a model version manifest: ${problems}`);
}
