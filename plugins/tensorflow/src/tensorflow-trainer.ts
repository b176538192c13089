/**
 * The runner for TensorFlow.js parameter-server training. Every node (chief, worker, ps) runs in
 * its own Node process hosting TF.js, so a crash or a `kill -9` takes down that node alone and
 * the engine's failure policy decides what restarts. Input records reach the process on demand
 * (it asks for a batch when it needs one), so memory stays bounded and backpressure reaches the
 * pipeline.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DependencyMissingError,
  type InputChannel,
  parseWithSchema,
  type Runner,
  type RunnerContext,
  type RunnerHandle,
  type RunnerResult,
} from '@millrace/core';
import { runnerResultOf, superviseProcess } from '@millrace/runner-kit';
import {
  type ChildMessage,
  type ParentMessage,
  payloadVariable,
  type TrainingProcessPayload,
} from './process-messages.js';
import { createRingFeed, type RingFeed } from './ring-input.js';
import { type TrainingOptionsInput, trainingOptionsSchema } from './training-options.js';

/** How long a stopped training process gets after SIGTERM before SIGKILL. */
const stopGraceMs = 5_000;
const stderrTailLines = 30;

/** `dist/training-process.js` of this package; unit tests under src/ need the package built. */
export function trainingProcessPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', 'dist', 'training-process.js');
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
  const entry = trainingProcessPath();
  if (!existsSync(entry)) {
    throw new DependencyMissingError(
      '@millrace/plugin-tensorflow build',
      `${entry} is missing; build the package first (npm run build -w @millrace/plugin-tensorflow)`,
    );
  }
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
  // The one supervisor: its own process group (a stop reaches whatever the node spawned),
  // SIGTERM then SIGKILL, stderr tail by line. The IPC channel is fd 3.
  const supervised = superviseProcess({
    command: process.execPath,
    args: [entry],
    env: { ...process.env, ...context.environment, [payloadVariable]: JSON.stringify(payload) },
    extraStdio: ['ipc'],
    serialization: 'advanced',
    gracePeriodMs: stopGraceMs,
    stderrTailLines,
    onStdoutLine: (line) => context.logger.info(line),
    signal: context.signal,
  });
  const child = supervised.child;
  child.on('message', (message: ChildMessage) => handleMessage(child, message, context, input));
  const name = `${context.role}[${context.index}] training process`;
  let dataFailure: Error | undefined;
  if (feed && input) {
    void feed.pump(input, (error) => {
      dataFailure = error;
      void supervised.stop();
    });
  }

  const result = supervised.exit.then(async (exit): Promise<RunnerResult> => {
    await feed?.close();
    if (exit.spawnError)
      return { status: 'failed', message: `${name} could not start: ${exit.spawnError.message}` };
    if (dataFailure) {
      return {
        status: 'failed',
        message: `${name}: ${dataFailure.message}`,
        exitCode: exit.exitCode ?? undefined,
        signal: exit.signal ?? undefined,
        stderrTail: exit.stderrTail,
      };
    }
    // A node stopped by the agent reports a stop, however cleanly it exited.
    return exit.stopped ? { status: 'stopped' } : runnerResultOf(exit, name);
  });
  return {
    result,
    stop: async () => {
      await supervised.stop();
      await result;
    },
  };
}

function handleMessage(
  child: ChildProcess,
  message: ChildMessage,
  context: RunnerContext,
  input: InputChannel | undefined,
): void {
  switch (message.type) {
    case 'metrics':
      context.metrics.report(message.metrics);
      return;
    case 'checkpointed':
      try {
        context.checkpointed(message.position);
      } catch (error) {
        // A position the role refuses is a bug in the trainer, not a reason to stop training.
        context.logger.error('checkpoint acknowledgement refused', { error: (error as Error).message });
      }
      return;
    case 'log':
      context.logger[message.level](message.message, message.fields);
      return;
    case 'read': {
      if (!input) {
        reply(child, { type: 'records', records: null });
        return;
      }
      input.readBatch(message.maxRecords).then(
        (records) => reply(child, { type: 'records', records }),
        (error: Error) => {
          context.logger.error('input channel failed', { error: error.message });
          child.kill('SIGTERM');
        },
      );
      return;
    }
  }
}

function reply(child: ChildProcess, message: ParentMessage): void {
  if (child.connected) child.send(message);
}
