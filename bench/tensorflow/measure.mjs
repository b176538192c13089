#!/usr/bin/env node
// One measurement of bench/tensorflow.mjs, in a fresh Node process. Prints one JSON line.
//
//   measure.mjs single        the usual TF.js loop in one process (optimizer.minimize per batch)
//                             over the same batches the 2 workers train on, interleaved as the
//                             ps sees them; a weight snapshot every `checkpointEverySteps` steps
//   measure.mjs async | sync  2 workers + 1 ps (three processes) with checkpoints on, in the
//                             trainer's async (default) or sync mode; every checkpoint the
//                             trainer writes is copied aside as it appears, with its time
//   measure.mjs predict       the in-pipeline prediction operator against model.predict in a
//                             plain loop over the same rows
//
// Training modes report the held-out AUC of every snapshot (evaluated after training, outside the
// timing) with its seconds since the first batch, so the driver can find the time to a quality.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from '@millrace/dataflow';
import {
  loadLayersModelFrom,
  predictWithTensorflow,
  saveModelTo,
  tensorflowTrainer,
  useBackend,
} from '@millrace/plugin-tensorflow';
import * as tf from '@tensorflow/tfjs-core';

const here = dirname(fileURLToPath(import.meta.url));
const modelModule = join(here, '..', '..', 'plugins', 'tensorflow', 'src', 'fixtures', 'clicks-model.mjs');
const { createModel, examples, trainingBatches } = await import(modelModule);
const mode = process.argv[2];
const settings = JSON.parse(process.env.BENCH_TF_SETTINGS);
const { batchSize, batchesPerWorker, checkpointEverySteps, backend } = settings;
const moduleOptions = { batchesPerWorker, hidden: settings.hidden, seed: 7 };
const scratch = mkdtempSync(join(tmpdir(), 'millrace-bench-tf-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** Rows the model never trains on (another seed), for the AUC. */
const heldOut = examples(990_001, settings.heldOutRows);

/** Area under the ROC curve of `scores` against 0/1 `labels` (ties share their rank). */
function areaUnderRoc(scores, labels) {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives += 1;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

function heldOutAuc(model) {
  const scores = tf.tidy(() => model.predict(tf.tensor2d(heldOut.features, [heldOut.count, 8])).dataSync());
  return areaUnderRoc(Float32Array.from(scores), heldOut.labels);
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The same batches, one process, the usual TF.js loop. */
async function singleProcess() {
  await useBackend(backend);
  const model = createModel(moduleOptions);
  const optimizer = tf.train.adam(settings.learningRate);
  const batches = [0, 1].flatMap((worker) => [
    ...trainingBatches({ worker, workers: 2, batchSize, options: moduleOptions }),
  ]);
  // Interleave the two workers' batches, as the ps sees them.
  const ordered = batches.map((_, i) => batches[(i % 2) * batchesPerWorker + Math.floor(i / 2)]);
  const snapshots = [];
  let loss = 0;
  const started = performance.now();
  for (const [step, batch] of ordered.entries()) {
    const value = optimizer.minimize(() => {
      const xs = tf.tensor2d(batch.features, [batch.count, 8]);
      const ys = tf.tensor2d(batch.labels, [batch.count, 1]);
      return tf.losses.logLoss(ys, model.apply(xs, { training: true }), undefined, 1e-7);
    }, true);
    loss = value.dataSync()[0];
    value.dispose();
    if ((step + 1) % checkpointEverySteps === 0 || step === ordered.length - 1) {
      // Checkpoints on, as the distributed run: the weights are saved (to memory; the ps run writes files).
      snapshots.push({
        step: step + 1,
        seconds: (performance.now() - started) / 1000,
        weights: model.getWeights().map((weight) => weight.clone()),
      });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const evaluated = snapshots.map(({ step, seconds: at, weights }) => {
    model.setWeights(weights);
    return { step, seconds: at, auc: heldOutAuc(model) };
  });
  return { seconds, loss, samples: ordered.length * batchSize, snapshots: evaluated };
}

/** 2 workers + 1 ps as three processes, checkpoints on; every checkpoint copied aside with its time. */
async function distributed(training) {
  const checkpointDirectory = join(scratch, 'checkpoints');
  const snapshotDirectory = join(scratch, 'snapshots');
  mkdirSync(checkpointDirectory);
  mkdirSync(snapshotDirectory);
  const spec = { jobName: 'bench', generation: 0, roles: {} };
  for (const [role, count] of [
    ['worker', 2],
    ['ps', 1],
  ]) {
    spec.roles[role] = [];
    for (let index = 0; index < count; index++)
      spec.roles[role].push({ role, index, host: '127.0.0.1', ports: { grpc: await freePort() } });
  }
  const runner = tensorflowTrainer({
    module: modelModule,
    batchSize,
    optimizer: 'adam',
    learningRate: settings.learningRate,
    backend,
    checkpointEverySteps,
    moduleOptions,
  });
  const start = async (role, index) => {
    const metrics = [];
    const silent = () => {};
    const handle = await runner.start({
      jobName: 'bench',
      role,
      index,
      generation: 0,
      attempt: 0,
      clusterSpec: spec,
      environment: { MILLRACE_TF_TRAINING: training },
      checkpointDirectory,
      reservedPorts: {},
      logger: { debug: silent, info: silent, warn: silent, error: silent },
      metrics: { report: (values) => metrics.push({ ...values, at: performance.now() }) },
      checkpointed: silent,
      resumePosition: 0,
      signal: new AbortController().signal,
    });
    return { handle, metrics };
  };
  const ps = await start('ps', 0);
  const workers = [await start('worker', 0), await start('worker', 1)];
  const started = performance.now();
  // Copy each checkpoint aside as the pointer moves (the trainer keeps only the last two).
  const seen = new Set();
  const copied = [];
  const poll = setInterval(() => {
    const pointerFile = join(checkpointDirectory, 'checkpoint.json');
    if (!existsSync(pointerFile)) return;
    try {
      const pointer = JSON.parse(readFileSync(pointerFile, 'utf8'));
      if (seen.has(pointer.latest)) return;
      const target = join(snapshotDirectory, pointer.latest);
      cpSync(join(checkpointDirectory, pointer.latest), target, { recursive: true });
      seen.add(pointer.latest);
      copied.push({ step: pointer.step, at: performance.now(), path: target });
    } catch {
      // The pointer moved while we copied; the next poll takes the newer one.
    }
  }, 25);
  const results = await Promise.all(workers.map((worker) => worker.handle.result));
  clearInterval(poll);
  await ps.handle.stop('bench done');
  if (results.some((result) => result.status !== 'succeeded'))
    throw new Error(`workers: ${JSON.stringify(results)}`);
  // The final checkpoint, if the last poll missed it.
  const pointer = JSON.parse(readFileSync(join(checkpointDirectory, 'checkpoint.json'), 'utf8'));
  if (!seen.has(pointer.latest)) {
    const target = join(snapshotDirectory, pointer.latest);
    cpSync(join(checkpointDirectory, pointer.latest), target, { recursive: true });
    copied.push({ step: pointer.step, at: performance.now(), path: target });
  }
  // Training time from the first worker's first batch: the workers report train_seconds at the end.
  const finals = workers.map((worker) => worker.metrics.at(-1));
  const endAt = Math.max(...workers.map((worker) => worker.metrics.at(-1).at));
  const firstBatchAt = Math.min(
    ...finals.map((final, i) => workers[i].metrics.at(-1).at - final.train_seconds * 1000),
  );
  await useBackend(backend);
  const snapshots = [];
  for (const { step, at, path } of copied) {
    const model = await loadLayersModelFrom(path);
    snapshots.push({ step, seconds: Math.max(0, (at - firstBatchAt) / 1000), auc: heldOutAuc(model) });
    model.dispose();
  }
  return {
    seconds: (endAt - firstBatchAt) / 1000,
    wallSeconds: (endAt - started) / 1000,
    loss: Math.max(...finals.map((final) => final.loss)),
    samples: finals.reduce((sum, final) => sum + final.samples, 0),
    snapshots,
  };
}

async function prediction() {
  await useBackend(backend);
  const directory = join(scratch, 'model');
  await saveModelTo(createModel(moduleOptions), directory);
  const rows = 100_000;
  const data = examples(3, rows);
  const records = Array.from({ length: rows }, (_, id) => ({
    id,
    features: data.features.subarray(id * 8, id * 8 + 8),
  }));
  const chunk = 1024;
  const model = await loadLayersModelFrom(directory);
  // Warm the backend's kernels first: the operator runs after the plain loop in this process and
  // finds them warm, so otherwise the plain loop alone pays the first call's compilation.
  tf.tidy(() => model.predict(tf.tensor2d(new Float32Array(chunk * 8), [chunk, 8])).dataSync());
  let checksum = 0;
  let started = performance.now();
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    const features = new Float32Array(count * 8);
    for (let row = 0; row < count; row++) features.set(records[start + row].features, row * 8);
    const output = tf.tidy(() => model.predict(tf.tensor2d(features, [count, 8])).dataSync());
    checksum += output[0];
  }
  const plainSeconds = (performance.now() - started) / 1000;
  const job = new Job({ name: `bench-predict-${backend}`, batchSize: chunk });
  let emitted = 0;
  job
    .fromIterable(records)
    .transform(
      predictWithTensorflow({
        modelDirectory: directory,
        backend,
        maxBatchSize: chunk,
        features: (r) => r.features,
        result: (_record, prediction) => prediction[0],
      }),
      { name: 'predict', parallelism: 1 },
    )
    .forEach(() => {
      emitted += 1;
    });
  started = performance.now();
  await job.execute();
  const operatorSeconds = (performance.now() - started) / 1000;
  if (emitted !== rows || !Number.isFinite(checksum))
    throw new Error(`operator emitted ${emitted} of ${rows}`);
  return { plainRowsPerSecond: rows / plainSeconds, operatorRowsPerSecond: rows / operatorSeconds };
}

const measurements = {
  single: singleProcess,
  async: () => distributed('async'),
  sync: () => distributed('sync'),
  predict: prediction,
};
if (!measurements[mode]) {
  console.error(`usage: measure.mjs ${Object.keys(measurements).join('|')}`);
  process.exit(2);
}
console.log(JSON.stringify({ mode, ...(await measurements[mode]()) }));
process.exit(0);
