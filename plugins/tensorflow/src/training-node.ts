/**
 * One node of TensorFlow.js parameter-server training, whatever process hosts it: a parameter
 * server serves its shard until stopped; a chief or worker trains on its batches and finishes.
 */
import type { ClusterSpec, InputChannel, Logger, MetricsReporter } from '@millrace/core';
import { ConfigError } from '@millrace/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { useBackend } from './backend.js';
import { runEvaluator } from './evaluator.js';
import {
  forgetCheckpointPositions,
  latestCheckpoint,
  loadLayersModelFrom,
  trainableValues,
  writeCheckpoint,
} from './model-io.js';
import { untilAborted } from './node-process.js';
import { ParameterServer } from './parameter-server.js';
import { ParameterServerClient, type ShardValues } from './ps-client.js';
import { shapeFingerprint, shardVariables } from './sharding.js';
import { tensorflowPortName } from './tf-config.js';
import {
  type Batch,
  batchesFromInput,
  buildModel,
  defaultDecodeExample,
  type InputCuts,
  importTrainingModule,
  type TrainingModule,
} from './training-module.js';
import { lossFunction, type TrainingOptions } from './training-options.js';

export interface TrainingNodeContext {
  role: string;
  index: number;
  clusterSpec: ClusterSpec;
  checkpointDirectory: string;
  /** `async` or `sync`; the engine sets `MILLRACE_TF_TRAINING` in the node's environment. */
  training: 'async' | 'sync';
  input?: InputChannel | undefined;
  /**
   * Records of this node's input stream before this start (the runner context's
   * `resumePosition`, 0 when absent): the input position in checkpoint manifests counts from it.
   */
  resumePosition?: number | undefined;
  /**
   * The cluster generation of this start (0: the job's first). A parameter server restores input
   * positions from a checkpoint only in a later generation: at generation 0 the checkpoint was
   * written by an earlier run of the job, whose input positions counted another stream.
   */
  generation?: number | undefined;
  /**
   * Acknowledges that a durable checkpoint holds this node's input records 1 … position (the
   * runner context's `checkpointed`); a stream-mode worker calls it as the parameter servers
   * report checkpoints that hold its records.
   */
  checkpointed?: ((position: number) => void) | undefined;
  metrics: MetricsReporter;
  logger: Logger;
  signal: AbortSignal;
}

/** What a finished worker did, for its logs and tests. */
export interface WorkerSummary {
  steps: number;
  samples: number;
  startStep: number;
  lastStep: number;
  lastLoss: number;
}

export async function runTrainingNode(
  options: TrainingOptions,
  context: TrainingNodeContext,
): Promise<WorkerSummary | undefined> {
  const backend = await useBackend(options.backend);
  if (backend !== options.backend)
    context.logger.warn(`TF.js backend ${options.backend} is unavailable; using ${backend}`);
  const module = await importTrainingModule(options.module);
  const model = await buildModel(module, options.moduleOptions);
  if (context.role === 'ps') {
    await serveShard(options, context, model);
    return undefined;
  }
  if (context.role === 'chief' || context.role === 'worker')
    return trainWorker(options, context, model, module);
  if (context.role === 'evaluator') {
    await runEvaluator(options, context, model, module);
    return undefined;
  }
  throw new ConfigError(
    [
      {
        path: `roles.${context.role}`,
        message: 'the TF.js trainer runs chief, worker, ps and evaluator nodes',
      },
    ],
    { subject: 'tensorflow training' },
  );
}

function parameterServerAddresses(spec: ClusterSpec): string[] {
  const nodes = spec.roles.ps ?? [];
  if (nodes.length === 0) {
    throw new ConfigError(
      [{ path: 'roles.ps', message: 'parameter-server training needs at least one ps node' }],
      {
        subject: 'tensorflow training',
      },
    );
  }
  return nodes.map((node) => `${node.host}:${node.ports[tensorflowPortName]}`);
}

function computingNodes(spec: ClusterSpec): number {
  return (spec.roles.chief?.length ?? 0) + (spec.roles.worker?.length ?? 0);
}

/** Chief first, then workers: the worker number used for partitions and logs. */
function workerNumber(spec: ClusterSpec, role: string, index: number): number {
  return role === 'chief' ? 0 : (spec.roles.chief?.length ?? 0) + index;
}

async function serveShard(
  options: TrainingOptions,
  context: TrainingNodeContext,
  model: tfl.LayersModel,
): Promise<void> {
  const shapes = model.trainableWeights.map((weight) => weight.shape as number[]);
  const shard = shardVariables(
    shapes.map((shape) => ({ shape })),
    context.clusterSpec.roles.ps?.length ?? 1,
  )[context.index]!;
  let values = trainableValues(model);
  let step = 0;
  let positions: Record<string, number> | undefined;
  const checkpoint = await latestCheckpoint(context.checkpointDirectory);
  if (checkpoint) {
    const restored = await loadLayersModelFrom(checkpoint.path);
    if (shapeFingerprint(restored.trainableWeights) !== shapeFingerprint(model.trainableWeights)) {
      throw new ConfigError(
        [{ path: 'checkpointDirectory', message: `checkpoint ${checkpoint.path} holds a different model` }],
        { subject: 'tensorflow training' },
      );
    }
    values = trainableValues(restored);
    step = checkpoint.step;
    // The input positions this shard's values in the checkpoint hold: restarted workers skip them.
    // Only within one run of the job: a new run numbers its input from 1 again, so a checkpoint
    // found at generation 0 (an earlier run's) contributes its values and not its positions, and
    // shard 0 removes them from it, so that a restart later in this run does not restore them.
    if ((context.generation ?? 0) > 0) positions = checkpoint.shardPositions?.[context.index];
    else if (context.index === 0) await forgetCheckpointPositions(context.checkpointDirectory);
    context.logger.info('parameter server restored from checkpoint', { path: checkpoint.path, step });
  }
  const server = new ParameterServer({
    values: shard.map((index) => values[index]!),
    shapes: shard.map((index) => shapes[index]!),
    optimizer: options.optimizer,
    learningRate: options.learningRate,
    mode: context.training,
    replicas: computingNodes(context.clusterSpec),
    step,
    fingerprint: shapeFingerprint(model.trainableWeights),
    shard: context.index,
    positions,
  });
  const self = context.clusterSpec.roles.ps![context.index]!;
  const port = await server.listen(self.ports[tensorflowPortName]!, self.host);
  context.logger.info('parameter server listening', { port, variables: shard.length, step });
  context.metrics.report({ step, restored_step: step, pid: process.pid });
  let last = { time: Date.now(), samples: 0 };
  const timer = setInterval(() => {
    const now = Date.now();
    const { samples, updates } = server.stats;
    const rate = ((samples - last.samples) * 1000) / Math.max(1, now - last.time);
    last = { time: now, samples };
    context.metrics.report({ step: server.step, updates, samples_per_second: rate });
  }, 1000);
  try {
    await untilAborted(context.signal);
  } finally {
    clearInterval(timer);
    await server.close();
  }
}

async function trainWorker(
  options: TrainingOptions,
  context: TrainingNodeContext,
  model: tfl.LayersModel,
  module: TrainingModule,
): Promise<WorkerSummary> {
  const { clusterSpec: spec } = context;
  const weights = model.trainableWeights;
  const shapes = weights.map((weight) => weight.shape as number[]);
  const shards = shardVariables(
    shapes.map((shape) => ({ shape })),
    spec.roles.ps?.length ?? 0,
  );
  const variables = weights.map((weight) => weight.read() as tf.Variable);
  const loss = lossFunction(options.loss);
  const featureShape = model.inputs[0]!.shape.slice(1) as number[];
  const labelShape = model.outputs[0]!.shape.slice(1) as number[];
  const featureSize = featureShape.reduce((a, b) => a * b, 1);
  const labelSize = labelShape.reduce((a, b) => a * b, 1);
  const worker = workerNumber(spec, context.role, context.index);
  const saves = context.role === 'chief' || (!spec.roles.chief?.length && context.index === 0);

  const client = await ParameterServerClient.connect({
    addresses: parameterServerAddresses(spec),
    worker,
    name: `${context.role}-${context.index}`,
    fingerprint: shapeFingerprint(weights),
    connectTimeoutMs: options.connectTimeoutMs,
    signal: context.signal,
  });
  const assign = (replies: readonly { step: number; values: Float32Array }[]) => {
    tf.tidy(() => {
      replies.forEach((reply, shard) => {
        let offset = 0;
        for (const index of shards[shard]!) {
          const size = variables[index]!.size;
          variables[index]!.assign(tf.tensor(reply.values.subarray(offset, offset + size), shapes[index]));
          offset += size;
        }
      });
    });
    return replies.map((reply) => reply.step);
  };

  // Input positions (runtime README, "Replay: no record lost"): this start's input begins after
  // `resumePosition` (the last acknowledged checkpoint). Each shard said at HELLO which of this
  // worker's records its values already hold: a live ps holds what the dead process pushed after
  // that checkpoint, a restored one what its checkpoint held. Records every shard holds are read
  // and skipped; a batch some shards hold goes only to the others (batches end where a shard's
  // position lies, so each is wholly held or not). Nothing is applied twice, nothing skipped.
  const resumePosition = context.resumePosition ?? 0;
  const held = context.input ? [...client.heldPositions] : shards.map(() => 0);
  if (context.input && held.some((position) => position < resumePosition)) {
    context.logger.warn(
      `parameter servers hold ${context.role}[${context.index}]'s input only up to positions ${held.join(', ')}, ` +
        `but a checkpoint up to ${resumePosition} was acknowledged: the records between are not in the model ` +
        '(was the checkpoint directory changed?)',
    );
  }
  const skipThrough = Math.max(resumePosition, Math.min(...held));
  const boundaries = [...new Set(held)].filter((position) => position > skipThrough).sort((a, b) => a - b);

  let steps = assign(await client.pull());
  const startStep = steps[0]!;
  let lastCheckpointStep = startStep;
  const batches = batchSource(module, options, context, worker, featureSize, labelSize, {
    skipThrough: skipThrough - resumePosition,
    boundaries: boundaries.map((position) => position - resumePosition),
  });
  const summary: WorkerSummary = {
    steps: 0,
    samples: 0,
    startStep,
    lastStep: startStep,
    lastLoss: Number.NaN,
  };
  let window = { time: Date.now(), samples: 0 };
  let firstBatchAt: number | undefined;
  context.metrics.report({ step: startStep, pid: process.pid });
  // Async mode overlaps the exchange with compute: up to `pushesInFlight` (default 4) pushes are on the wire
  // while the worker computes the next gradients on the values it has (a step or two staler,
  // which asynchronous training tolerates anyway); a parameter server that is slow to be
  // scheduled on a busy machine then costs no idle time. Sync mode cannot: every gradient must be
  // on the current step.
  const depth = context.training === 'async' ? options.pushesInFlight : 0;
  const inFlight: Promise<ShardValues[]>[] = [];
  let readPosition = skipThrough;
  let acknowledged = resumePosition;
  /** Acknowledges what every shard's newest durable checkpoint holds of this worker's input. */
  const acknowledge = (replies: readonly ShardValues[]) => {
    if (!context.input || !context.checkpointed) return;
    const covered = Math.min(readPosition, ...replies.map((reply) => reply.checkpointed));
    if (covered <= acknowledged) return;
    acknowledged = covered;
    context.checkpointed(covered);
  };
  /**
   * Writes a checkpoint from one snapshot of every shard: its values and the input positions they
   * hold, taken at once per shard, so the checkpoint records exactly which records it contains.
   * Once it is durable, the shards learn it and pass it on to each worker in its next VALUES.
   */
  const checkpoint = async () => {
    const state = await client.snapshot();
    steps = assign(state);
    const positions = state.map((shard) => shard.positions);
    const withInput = positions.some((shard) => Object.keys(shard).length > 0);
    const written = await writeCheckpoint(
      model,
      context.checkpointDirectory,
      steps[0]!,
      withInput ? positions : undefined,
    );
    lastCheckpointStep = steps[0]!;
    if (written && withInput) client.checkpointed(positions);
  };
  const settle = async () => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    const replies = await oldest;
    steps = assign(replies);
    acknowledge(replies);
    summary.lastStep = steps[0]!;
    const now = Date.now();
    if (now - window.time >= 500) {
      const rate = ((summary.samples - window.samples) * 1000) / (now - window.time);
      window = { time: now, samples: summary.samples };
      context.metrics.report({
        step: steps[0]!,
        loss: summary.lastLoss,
        samples_per_second: rate,
        samples: summary.samples,
      });
    }
    if (saves && steps[0]! - lastCheckpointStep >= options.checkpointEverySteps) await checkpoint();
  };
  try {
    let next = batches.next();
    while (!context.signal.aborted) {
      const current = await next;
      if (current.done) break;
      if (options.maxStepsPerWorker > 0 && summary.steps >= options.maxStepsPerWorker) break;
      const batch = current.value;
      firstBatchAt ??= performance.now();
      const end = readPosition + batch.count; // one input record is one example
      const { gradients, lossValue } = computeGradients(
        batch,
        featureShape,
        labelShape,
        variables,
        shards,
        model,
        loss,
      );
      next = batches.next(); // decode the next batch while the push is on the wire
      while (inFlight.length > Math.max(0, depth - 1)) await settle();
      // A shard that already holds this batch (a restarted worker's replay) only moves the position.
      const perShard = gradients.map((shard, index) => (end <= held[index]! ? undefined : shard));
      inFlight.push(client.push(perShard, steps, batch.count, context.input ? end : 0));
      readPosition = end;
      summary.steps += 1;
      summary.samples += batch.count;
      summary.lastLoss = lossValue;
      if (depth === 0) await settle();
    }
    while (inFlight.length > 0) await settle();
    if (!context.signal.aborted) {
      let remaining = await client.leave();
      // Stream mode: while other workers still train, the saver keeps checkpointing, so their
      // input keeps being acknowledged (and their replay buffers freed) after its own ended.
      while (saves && context.input && remaining > 0 && !context.signal.aborted) {
        await abortableDelay(lingerPollMs, context.signal);
        steps = assign(await client.pull());
        if (steps[0]! - lastCheckpointStep >= options.checkpointEverySteps) await checkpoint();
        remaining = await client.leave();
      }
      // The final checkpoint: the saver always writes one; in stream mode the other workers may
      // still be training then, so the last worker to leave writes one too, with every update in.
      if (!context.signal.aborted && (saves || remaining === 0)) await checkpoint();
    }
  } finally {
    client.close();
    await batches.return?.(undefined);
  }
  const trainSeconds = firstBatchAt === undefined ? 0 : (performance.now() - firstBatchAt) / 1000;
  context.metrics.report({
    step: summary.lastStep,
    loss: summary.lastLoss,
    samples: summary.samples,
    train_seconds: trainSeconds,
  });
  return summary;
}

/** How often a saver whose input ended checks whether the others still train. */
const lingerPollMs = 200;

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function batchSource(
  module: TrainingModule,
  options: TrainingOptions,
  context: TrainingNodeContext,
  worker: number,
  featureSize: number,
  labelSize: number,
  cuts: InputCuts,
): AsyncIterator<Batch> {
  if (context.input) {
    return batchesFromInput(
      context.input,
      module.decodeExample ?? defaultDecodeExample,
      options.batchSize,
      featureSize,
      labelSize,
      cuts,
    );
  }
  if (typeof module.trainingBatches !== 'function') {
    throw new ConfigError(
      [
        {
          path: 'module',
          message: `${context.role}[${context.index}] has no input stream and the module exports no trainingBatches()`,
        },
      ],
      { subject: 'tensorflow training options' },
    );
  }
  const iterable = module.trainingBatches({
    worker,
    workers: computingNodes(context.clusterSpec),
    batchSize: options.batchSize,
    options: options.moduleOptions,
  });
  const asyncIterable = iterable as AsyncIterable<Batch>;
  if (typeof asyncIterable[Symbol.asyncIterator] === 'function') return asyncIterable[Symbol.asyncIterator]();
  const iterator = (iterable as Iterable<Batch>)[Symbol.iterator]();
  return {
    next: async () => iterator.next(),
    return: async (value) => iterator.return?.(value) ?? { done: true, value },
  };
}

function computeGradients(
  batch: Batch,
  featureShape: number[],
  labelShape: number[],
  variables: tf.Variable[],
  shards: number[][],
  model: tfl.LayersModel,
  loss: (labels: tf.Tensor, predictions: tf.Tensor) => tf.Scalar,
): { gradients: Float32Array[]; lossValue: number } {
  return tf.tidy(() => {
    const xs = tf.tensor(batch.features, [batch.count, ...featureShape]);
    const ys = tf.tensor(batch.labels, [batch.count, ...labelShape]);
    const { value, grads } = tf.variableGrads(
      () => loss(ys, model.apply(xs, { training: true }) as tf.Tensor),
      variables,
    );
    const flat = variables.map((variable) => grads[variable.name]!.dataSync() as Float32Array);
    const gradients = shards.map((indices) => {
      const size = indices.reduce((sum, index) => sum + flat[index]!.length, 0);
      const shard = new Float32Array(size);
      let offset = 0;
      for (const index of indices) {
        shard.set(flat[index]!, offset);
        offset += flat[index]!.length;
      }
      return shard;
    });
    return { gradients, lossValue: value.dataSync()[0]! };
  });
}
