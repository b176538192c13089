/**
 * The runner for TensorFlow.js parameter-server training. Every node (chief, worker, ps) runs in
 * its own Node process hosting TF.js, so a crash or a `kill -9` takes down that node alone and
 * the engine's failure policy decides what restarts. Input records reach the process on demand
 * (it asks for a batch when it needs one), so memory stays bounded and backpressure reaches the
 * pipeline.
 */
import {
  type InputChannel,
  parseWithSchema,
  type Runner,
  type RunnerContext,
  type RunnerHandle,
} from '@millrace/core';
import { nodeProcessPath, startNodeProcess } from './node-process-runner.js';
import type { TrainingProcessPayload } from './process-messages.js';
import { createRingFeed, type RingFeed } from './ring-input.js';
import { type TrainingOptionsInput, trainingOptionsSchema } from './training-options.js';

/** `dist/training-process.js` of this package; unit tests under src/ need the package built. */
export function trainingProcessPath(): string {
  return nodeProcessPath('training-process');
}

export function tensorflowTrainer(options: TrainingOptionsInput): Runner {
  const resolved = parseWithSchema(trainingOptionsSchema, options, 'tensorflow training options');
  return {
    description: `tensorflow.js parameter-server training (${resolved.module})`,
    // Stream-mode workers acknowledge what the parameter servers' durable checkpoints hold of
    // their input, so their roles get replay by default (plugin README, "Replay").
    acknowledgesCheckpoints: true,
    start: async (context) => {
      let feed: RingFeed | undefined;
      if (context.input && resolved.inputTransport === 'ring') {
        feed = await createRingFeed(resolved.ringCapacityBytes).catch((error: Error) => {
          context.logger.warn(`shared-memory ring unavailable, input goes over IPC: ${error.message}`);
          return undefined;
        });
      }
      return startTrainingProcess(resolved, context, feed, nodeInput(context));
    },
  };
}

/**
 * The input the training process reads. An evaluator's held-out records are no model state: it
 * acknowledges each record as soon as it is read, so replay (on by default for this runner) holds
 * none of them and never waits for a checkpoint an evaluator does not write; a restarted evaluator
 * takes the records after the last one read, as without replay.
 */
function nodeInput(context: RunnerContext): InputChannel | undefined {
  const input = context.input;
  if (!input || context.role !== 'evaluator') return input;
  let position = context.resumePosition;
  const readBatch = async (maxRecords: number) => {
    const records = await input.readBatch(maxRecords);
    if (records && records.length > 0) {
      position += records.length;
      context.checkpointed(position);
    }
    return records;
  };
  return {
    readBatch,
    setDownstreamFill: (read) => input.setDownstreamFill?.(read),
    async *[Symbol.asyncIterator]() {
      for (let batch = await readBatch(1024); batch; batch = await readBatch(1024)) yield* batch;
    },
  };
}

function startTrainingProcess(
  options: TrainingProcessPayload['options'],
  context: RunnerContext,
  feed: RingFeed | undefined,
  input: InputChannel | undefined,
): RunnerHandle {
  const payload: TrainingProcessPayload = {
    role: context.role,
    index: context.index,
    clusterSpec: context.clusterSpec,
    checkpointDirectory: context.checkpointDirectory,
    training: context.environment.MILLRACE_TF_TRAINING === 'sync' ? 'sync' : 'async',
    input: feed ? { kind: 'ring', path: feed.path } : input ? { kind: 'ipc' } : { kind: 'none' },
    resumePosition: context.resumePosition ?? 0,
    generation: context.generation,
    options,
  };
  return startNodeProcess({ kind: 'training', payload, context, feed, input });
}
