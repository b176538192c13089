/**
 * The flagship job, as a function: generated impression log → feature engineering → TF.js
 * parameter-server training (2 workers + 1 ps, on the stream) → checkpoint → in-process
 * prediction on a held-out stream → AUC, accuracy and throughput.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msgpackCodec } from '@millrace/bridge-shm';
import { CancelledError } from '@millrace/core';
import { Job } from '@millrace/dataflow';
import {
  createTensorflowEngine,
  latestCheckpoint,
  positionsEveryShardHolds,
  predictWithTensorflow,
  tensorflowTrainer,
} from '@millrace/plugin-tensorflow';
import { addAMRole, addRole } from '@millrace/runtime';
import { createWorld, impressionLine, profiles } from './click-log.mjs';
import { accuracy, areaUnderCurve } from './evaluation.mjs';
import { buildFeatures, encodeFeatures } from './features.mjs';

import { chaosVariable } from './model.mjs';

const modelModule = new URL('./model.mjs', import.meta.url).pathname;

/**
 * @param {{ trainImpressions?: number, testImpressions?: number, seed?: number, chaos?: boolean,
 *   checkpointDirectory?: string, log?: (line: string) => void, track?: (job: Job) => void, signal?: AbortSignal }} options
 */
export async function runFlagship(options = {}) {
  const trainImpressions = options.trainImpressions ?? 240_000;
  const testImpressions = options.testImpressions ?? 60_000;
  const seed = options.seed ?? 7;
  const log = options.log ?? ((line) => console.log(line));
  const ownDirectory = options.checkpointDirectory === undefined;
  const checkpointDirectory =
    options.checkpointDirectory ?? mkdtempSync(join(tmpdir(), 'millrace-flagship-'));
  const world = createWorld({ seed });
  const started = performance.now();
  try {
    // 1. Feature engineering and training, one dataflow job with the ML cluster inside.
    const training = new Job({ name: 'flagship-train' });
    const engine = createTensorflowEngine({ mode: 'stream', training: 'async' });
    addAMRole(
      training,
      {
        name: 'ctr-model',
        engine: 'tensorflow',
        roles: { worker: { instances: 2 }, ps: { instances: 1 } },
        checkpointDirectory,
        maxRestarts: 3,
        restartBackoff: { initialMs: 100, maxMs: 1_000 },
      },
      { engine },
    );
    const lines = training.generate((i) => impressionLine(world, i), {
      count: trainImpressions,
      name: 'impressions',
      parallelism: 1,
    });
    const examples = buildFeatures({
      lines,
      profiles: training.fromIterable(() => profiles(world), { name: 'profiles' }),
      parallelism: 2,
    }).map((record) => ({ features: encodeFeatures(record), label: record.clicked }), {
      name: 'encode',
      parallelism: 2,
    });
    const trainer = tensorflowTrainer({
      module: modelModule,
      batchSize: 128,
      optimizer: 'adam',
      learningRate: 0.005,
      loss: 'binaryCrossentropy',
      checkpointEverySteps: 200,
    });
    addRole(training, 'worker', { instances: 2, input: examples, runner: trainer, codec: msgpackCodec });
    addRole(training, 'ps', { instances: 1, runner: trainer, codec: msgpackCodec });

    const progress = trainingProgress({ log });
    training.onEvent(progress.onEvent);
    options.track?.(training);
    // Training processes inherit this process's environment; model.mjs reads the variable there.
    if (options.chaos) process.env[chaosVariable] = String(Math.round(trainImpressions / 8));
    const trainingStarted = performance.now();
    const trained = await training.execute({ signal: options.signal }).finally(() => {
      delete process.env[chaosVariable];
      progress.stop(); // a failed or stopped job must not leave its ticker holding the process
    });
    const trainingSeconds = (performance.now() - trainingStarted) / 1000;
    // A stop (`millrace stop`, Ctrl-C) cancels the job: the run ends cancelled, not failed.
    if (trained.status === 'cancelled') throw new CancelledError('training was cancelled');
    if (trained.status !== 'finished') throw new Error(`training job ${trained.status}`);
    const checkpoint = await latestCheckpoint(checkpointDirectory);
    if (!checkpoint) throw new Error(`training finished without a checkpoint in ${checkpointDirectory}`);
    // What replay did for the stream-mode worker role (runtime README, "Replay: no record lost"),
    // and what the final checkpoint holds of the workers' input: the positions the parameter
    // server recorded with the values, per worker (plugin README, "Replay").
    const workerRole = trained.metrics.find((metrics) => metrics.operator === 'ctr-model-worker');
    const held = positionsEveryShardHolds(checkpoint.shardPositions ?? []);
    const replay = {
      replayed: workerRole?.extra.recordsReplayed ?? 0,
      notReplayed: workerRole?.extra.recordsNotReplayed ?? 0,
      trainingRecords: workerRole?.recordsIn ?? 0,
      inCheckpoint: Object.values(held).reduce((sum, position) => sum + position, 0),
    };
    const perWorker = Object.entries(held)
      .map(([name, position]) => `${name} ${position}`)
      .join(', ');
    const complete = replay.notReplayed === 0 && replay.inCheckpoint === replay.trainingRecords;
    log(
      `replay: ${replay.replayed} records replayed to restarted workers, ${replay.notReplayed} given up; ` +
        `the final checkpoint holds ${replay.inCheckpoint} of ${replay.trainingRecords} training records (${perWorker})` +
        (complete ? ': none lost' : ''),
    );
    if (!complete) {
      throw new Error(
        `training lost records: the final checkpoint holds ${replay.inCheckpoint} of ${replay.trainingRecords} training records, ${replay.notReplayed} were not replayed`,
      );
    }
    log(`checkpoint: ${checkpoint.path} (step ${checkpoint.step})`);

    // 2. Prediction on a held-out stream (the impressions that follow), in the pipeline's process.
    const prediction = new Job({ name: 'flagship-predict' });
    const heldOut = prediction.generate((i) => impressionLine(world, trainImpressions + i), {
      count: testImpressions,
      name: 'held-out-impressions',
      parallelism: 1,
    });
    const scored = buildFeatures({
      lines: heldOut,
      profiles: prediction.fromIterable(() => profiles(world), { name: 'profiles' }),
      parallelism: 2,
    })
      .transform(
        predictWithTensorflow({
          modelDirectory: checkpoint.path,
          features: encodeFeatures,
          result: (record, output) => ({ label: record.clicked, score: output[0] }),
        }),
        { name: 'predict', parallelism: 2 },
      )
      .collect();
    options.track?.(prediction);
    const predictionStarted = performance.now();
    const predicted = await prediction.execute({ signal: options.signal });
    const predictionSeconds = (performance.now() - predictionStarted) / 1000;
    if (predicted.status !== 'finished') throw new Error(`prediction job ${predicted.status}`);

    const scores = scored.records.map((record) => record.score);
    const labels = scored.records.map((record) => record.label);
    const result = {
      auc: areaUnderCurve(scores, labels),
      accuracy: accuracy(scores, labels),
      clickRate: labels.reduce((sum, label) => sum + label, 0) / labels.length,
      heldOutRows: scores.length,
      trainingImpressions: trainImpressions,
      trainingSeconds,
      trainingImpressionsPerSecond: trainImpressions / trainingSeconds,
      trainerSamplesPerSecond: progress.peakSamplesPerSecond(),
      predictionSeconds,
      predictionRowsPerSecond: testImpressions / predictionSeconds,
      checkpointStep: checkpoint.step,
      restarts: progress.restarts(),
      chaosKilled: progress.killed(),
      recordsReplayed: replay.replayed,
      recordsNotReplayed: replay.notReplayed,
      trainingRecords: replay.trainingRecords,
      recordsInCheckpoint: replay.inCheckpoint,
      totalSeconds: (performance.now() - started) / 1000,
    };
    log(
      `held-out: AUC ${result.auc.toFixed(4)}, accuracy ${result.accuracy.toFixed(4)} ` +
        `(click rate ${result.clickRate.toFixed(3)}, ${result.heldOutRows} rows)`,
    );
    log(
      `throughput: training ${Math.round(result.trainingImpressionsPerSecond)} impressions/s end to end ` +
        `(trainers peak ${Math.round(result.trainerSamplesPerSecond)} samples/s), prediction ${Math.round(result.predictionRowsPerSecond)} rows/s; ` +
        `restarts ${result.restarts}${result.chaosKilled ? ` (chaos killed ${result.chaosKilled})` : ''}; total ${result.totalSeconds.toFixed(1)} s`,
    );
    return result;
  } finally {
    if (ownDirectory) rmSync(checkpointDirectory, { recursive: true, force: true });
  }
}

/** Live progress from the cluster's observations; notes which node a SIGKILL took down. */
function trainingProgress({ log }) {
  const nodes = new Map();
  let state = 'starting';
  let restarts = 0;
  let killed;
  let peak = 0;
  // Every worker's latest rate, summed: what the trainers do together right now.
  const workerSamplesPerSecond = () =>
    [...nodes.entries()]
      .filter(([key]) => key.startsWith('worker'))
      .reduce((sum, [, m]) => sum + (m.samples_per_second ?? 0), 0);
  const onEvent = (event) => {
    if (event.type !== 'cluster-observation') return;
    const observation = event.observation;
    if (observation.type === 'state-changed') state = observation.state;
    if (observation.type === 'generation-started') {
      restarts += 1;
      log(
        `cluster: generation ${observation.generation}, ${observation.policy} of ${observation.restarting.join(', ')}`,
      );
    }
    if (observation.type === 'node-failed') {
      const failure = observation.failure;
      if (failure.signal === 'SIGKILL') killed ??= `${failure.role}[${failure.index}]`;
      log(
        `cluster: ${failure.role}[${failure.index}] failed (${failure.signal ?? `exit ${failure.exitCode}`}): ${failure.message}${failure.stderrTail ? `\n${failure.stderrTail}` : ''}`,
      );
    }
    if (observation.type !== 'node-metrics') return;
    const key = `${observation.role}[${observation.index}]`;
    nodes.set(key, { ...nodes.get(key), ...observation.metrics });
    peak = Math.max(peak, workerSamplesPerSecond());
  };
  const timer = setInterval(() => {
    const parts = [...nodes.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, m]) =>
        key.startsWith('ps')
          ? `${key} step ${m.step ?? 0}`
          : `${key} ${Math.round(m.samples_per_second ?? 0)}/s loss ${(m.loss ?? Number.NaN).toFixed(3)}`,
      );
    log(`training: cluster ${state} | ${parts.join(' | ') || 'forming…'}`);
  }, 1_500);
  return {
    onEvent,
    stop: () => clearInterval(timer),
    restarts: () => restarts,
    killed: () => killed,
    peakSamplesPerSecond: () => peak,
  };
}
