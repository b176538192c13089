/**
 * Options of a TF.js prediction cluster (`tensorflowPredictor`), shared by the runner (validated
 * there) and the processes it starts.
 */
import { z } from 'zod';
import { inputTransportOptions } from './ring-input.js';

export const predictionClusterOptionsSchema = z
  .object({
    /**
     * Path or `file:` URL of a module with optional hooks: `features(record)` (the model's input
     * row, embedding ids, for a decoded record; default `record.features`, or the record itself
     * when it is an array) and `result(record, prediction, version)` (what is written downstream;
     * default `{ id: record.id, prediction, version }`).
     */
    module: z.string().min(1).optional(),
    /** A saved model directory (`saveModelTo`, a trainer's `ckpt-*`) to serve. */
    checkpoint: z.string().min(1).optional(),
    /**
     * A checkpoint directory whose published versions (`publishModelVersion`, the trainer's
     * checkpoints) the cluster follows: the shards move to each new version together.
     */
    follow: z
      .object({
        directory: z.string().min(1),
        /** How often each shard reads the versions directory. Default 100 ms. */
        pollMs: z.number().int().positive().default(100),
        /** How long a node waits for the first published version. Default 120 s. */
        firstVersionTimeoutMs: z.number().int().positive().default(120_000),
      })
      .strict()
      .optional(),
    /** Records a worker scores together: one pull of rows per batch and shard. */
    batchSize: z.number().int().positive().default(256),
    /** TensorFlow.js backend of the workers; cpu is the fallback. */
    backend: z.enum(['wasm', 'cpu']).default('wasm'),
    /**
     * How long a worker keeps trying to reach a parameter server (at start, and while a killed
     * one is restarted) before it fails with a MillraceTimeoutError.
     */
    connectTimeoutMs: z.number().int().positive().default(30_000),
    /** A parameter server that answers no request for this long is treated as dead and reconnected. */
    requestTimeoutMs: z.number().int().positive().default(10_000),
    /**
     * How long a worker waits for a model version every parameter server holds (while shards
     * load a new one, or a restarted one catches up) before it fails.
     */
    versionTimeoutMs: z.number().int().positive().default(60_000),
    ...inputTransportOptions,
  })
  .strict()
  .refine((options) => (options.checkpoint === undefined) !== (options.follow === undefined), {
    message: 'give either checkpoint (one saved model) or follow (a directory of published versions)',
    path: ['checkpoint'],
  });

export type PredictionClusterOptionsInput = z.input<typeof predictionClusterOptionsSchema>;
export type PredictionClusterOptions = z.output<typeof predictionClusterOptionsSchema>;
