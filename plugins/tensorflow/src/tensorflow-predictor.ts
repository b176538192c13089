/**
 * The runner of a TF.js prediction cluster: the same runner serves the `ps` role (each node holds
 * its share of a saved model) and the stream-mode `worker` role (each node scores its partition of
 * the stream, pulling only the embedding rows a batch needs). Every node runs in its own Node
 * process, as the trainer's do, so a kill takes down that node alone.
 *
 * ```ts
 * const engine = createTensorflowEngine({ mode: 'stream', workload: 'prediction' });
 * addAMRole(job, { engine, ... });
 * const predictor = tensorflowPredictor({ follow: { directory: checkpoints }, batchSize: 256 });
 * addRole(job, 'ps', { instances: 2, runner: predictor });
 * const scores = addRole(job, 'worker', { instances: 2, input: impressions, runner: predictor });
 * ```
 */
import { ConfigError, codecDirections, parseWithSchema, type Runner } from '@millrace/core';
import { startNodeProcess } from './node-process-runner.js';
import {
  type PredictionClusterOptions,
  type PredictionClusterOptionsInput,
  predictionClusterOptionsSchema,
} from './prediction-options.js';
import type { PredictionProcessPayload } from './process-messages.js';
import { createRingFeed, type RingFeed } from './ring-input.js';

export function tensorflowPredictor(options: PredictionClusterOptionsInput): Runner {
  const resolved: PredictionClusterOptions = parseWithSchema(
    predictionClusterOptionsSchema,
    options,
    'tensorflow prediction options',
  );
  const source = resolved.checkpoint ?? `versions of ${resolved.follow!.directory}`;
  return {
    description: `tensorflow.js prediction cluster (${source})`,
    // A worker acknowledges each input record once its output is written downstream, so a
    // restarted worker's replay starts after the last written output: none is scored twice.
    acknowledgesCheckpoints: true,
    start: async (context) => {
      if (context.input && context.codec !== undefined) {
        const { input, output } = codecDirections(context.codec);
        if (input !== 'json' || output !== 'json') {
          throw new ConfigError(
            [
              {
                path: 'codec',
                message: `the role's codec is '${context.codec}'; tensorflowPredictor reads and writes 'json'`,
              },
            ],
            { subject: 'tensorflow prediction' },
          );
        }
      }
      let feed: RingFeed | undefined;
      if (context.input && resolved.inputTransport === 'ring') {
        feed = await createRingFeed(resolved.ringCapacityBytes).catch((error: Error) => {
          context.logger.warn(`shared-memory ring unavailable, input goes over IPC: ${error.message}`);
          return undefined;
        });
      }
      const payload: PredictionProcessPayload = {
        role: context.role,
        index: context.index,
        clusterSpec: context.clusterSpec,
        input: feed ? { kind: 'ring', path: feed.path } : context.input ? { kind: 'ipc' } : { kind: 'none' },
        resumePosition: context.resumePosition ?? 0,
        options: resolved,
      };
      return startNodeProcess({
        kind: 'prediction',
        payload,
        context,
        feed,
        input: context.input,
      });
    },
  };
}
