#!/usr/bin/env node
// TensorFlow.js benchmark, one run, side by side:
//  1. training samples/s: parameter-server training with 2 workers + 1 ps (three processes)
//     against single-process TF.js training of the same model on the same batches;
//  2. prediction rows/s: the in-process prediction operator in a dataflow job against
//     `model.predict` in a plain loop over the same rows;
//  3. both on the wasm and the cpu backend.
// Needs `npx tsup` in plugins/tensorflow and packages/dataflow (npm run build does it).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const modelModule = join(here, '..', 'plugins', 'tensorflow', 'src', 'fixtures', 'clicks-model.mjs');
const { createModel, examples, trainingBatches } = await import(modelModule);

const batchSize = 256;
const batchesPerWorker = Number(process.env.BENCH_TF_BATCHES ?? 600);
const moduleOptions = { batchesPerWorker, hidden: 64, seed: 7 };
const optimizerSettings = { optimizer: 'adam', learningRate: 0.01 };

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** 2 workers + 1 ps as three processes; samples/s over the workers' training time. */
async function distributedTraining(backend, workerCount = 2) {
  const checkpointDirectory = mkdtempSync(join(tmpdir(), 'millrace-bench-tf-'));
  const spec = { jobName: 'bench', generation: 0, roles: {} };
  for (const [role, count] of [
    ['worker', workerCount],
    ['ps', 1],
  ]) {
    spec.roles[role] = [];
    for (let index = 0; index < count; index++)
      spec.roles[role].push({ role, index, host: '127.0.0.1', ports: { grpc: await freePort() } });
  }
  const runner = tensorflowTrainer({
    module: modelModule,
    batchSize,
    ...optimizerSettings,
    backend,
    checkpointEverySteps: 1_000_000,
    pushesInFlight: Number(process.env.BENCH_TF_IN_FLIGHT ?? 4), // the trainer's default
    moduleOptions,
  });
  const start = async (role, index) => {
    const metrics = [];
    const controller = new AbortController();
    const silent = () => {};
    const handle = await runner.start({
      jobName: 'bench',
      role,
      index,
      generation: 0,
      attempt: 0,
      clusterSpec: spec,
      environment: { MILLRACE_TF_TRAINING: 'async' },
      checkpointDirectory,
      reservedPorts: {},
      logger: { debug: silent, info: silent, warn: silent, error: silent },
      metrics: { report: (values) => metrics.push(values) },
      signal: controller.signal,
    });
    return { handle, metrics };
  };
  const ps = await start('ps', 0);
  const workers = [];
  for (let index = 0; index < workerCount; index++) workers.push(await start('worker', index));
  const results = await Promise.all(workers.map((worker) => worker.handle.result));
  await ps.handle.stop('bench done');
  rmSync(checkpointDirectory, { recursive: true, force: true });
  if (results.some((result) => result.status !== 'succeeded'))
    throw new Error(`workers: ${JSON.stringify(results)}`);
  const finals = workers.map((worker) => worker.metrics.at(-1));
  const samples = finals.reduce((sum, final) => sum + final.samples, 0);
  const seconds = Math.max(...finals.map((final) => final.train_seconds));
  return {
    samplesPerSecond: samples / seconds,
    samples,
    seconds,
    loss: Math.max(...finals.map((f) => f.loss)),
  };
}

/** The same batches, one process, the usual TF.js loop: optimizer.minimize per batch. */
async function singleProcessTraining(backend) {
  await useBackend(backend);
  const model = createModel(moduleOptions);
  const optimizer = tf.train[optimizerSettings.optimizer](optimizerSettings.learningRate);
  const batches = [0, 1].flatMap((worker) => [
    ...trainingBatches({ worker, workers: 2, batchSize, options: moduleOptions }),
  ]);
  // Interleave the two workers' batches, as the ps sees them.
  const ordered = batches.map((_, i) => batches[(i % 2) * batchesPerWorker + Math.floor(i / 2)]);
  let samples = 0;
  let loss = 0;
  const started = performance.now();
  for (const batch of ordered) {
    const value = optimizer.minimize(() => {
      const xs = tf.tensor2d(batch.features, [batch.count, 8]);
      const ys = tf.tensor2d(batch.labels, [batch.count, 1]);
      return tf.losses.logLoss(ys, model.apply(xs, { training: true }), undefined, 1e-7);
    }, true);
    loss = value.dataSync()[0];
    value.dispose();
    samples += batch.count;
  }
  const seconds = (performance.now() - started) / 1000;
  return { samplesPerSecond: samples / seconds, samples, seconds, loss };
}

async function prediction(backend, directory) {
  await useBackend(backend);
  const rows = 100_000;
  const data = examples(3, rows);
  const records = Array.from({ length: rows }, (_, id) => ({
    id,
    features: data.features.subarray(id * 8, id * 8 + 8),
  }));
  const chunk = 1024;

  // Plain loop: pack 1024 rows, predict, read back.
  const model = await loadLayersModelFrom(directory);
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

  // The operator in a job: source → predict → sink.
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

const round = (value, digits = 3) => Number(value.toFixed(digits));
const os = await import('node:os');
const report = {
  machine: { cpus: os.cpus().length, node: process.version, load_average_at_start: os.loadavg()[0] },
  batchSize,
  batchesPerWorker,
};

const modelDirectory = join(mkdtempSync(join(tmpdir(), 'millrace-bench-model-')), 'model');
mkdirSync(dirname(modelDirectory), { recursive: true });
await useBackend('cpu');
await saveModelTo(createModel(moduleOptions), modelDirectory);

// The machine is shared (other builds and tests run beside this), so each measurement is taken
// `trials` times, alternating single-process and distributed runs, and the best of each is kept.
const trials = Number(process.env.BENCH_TF_TRIALS ?? 3);
const best = (runs, field) => runs.reduce((top, run) => (run[field] > top[field] ? run : top));
for (const backend of ['cpu', 'wasm']) {
  const singles = [];
  const distributeds = [];
  const predictions = [];
  for (let trial = 0; trial < trials; trial++) {
    singles.push(await singleProcessTraining(backend));
    distributeds.push(await distributedTraining(backend));
    predictions.push(await prediction(backend, modelDirectory));
  }
  const single = best(singles, 'samplesPerSecond');
  const distributed = best(distributeds, 'samplesPerSecond');
  const predict = {
    plainRowsPerSecond: best(predictions, 'plainRowsPerSecond').plainRowsPerSecond,
    operatorRowsPerSecond: best(predictions, 'operatorRowsPerSecond').operatorRowsPerSecond,
  };
  report[backend] = {
    training: {
      single_process_samples_per_second: round(single.samplesPerSecond, 0),
      ps_2_workers_1_ps_samples_per_second: round(distributed.samplesPerSecond, 0),
      ratio: round(distributed.samplesPerSecond / single.samplesPerSecond),
      single_process_final_loss: round(single.loss),
      distributed_final_loss: round(distributed.loss),
      all_trials_single: singles.map((run) => round(run.samplesPerSecond, 0)),
      all_trials_distributed: distributeds.map((run) => round(run.samplesPerSecond, 0)),
    },
    prediction: {
      plain_loop_rows_per_second: round(predict.plainRowsPerSecond, 0),
      operator_rows_per_second: round(predict.operatorRowsPerSecond, 0),
      ratio: round(predict.operatorRowsPerSecond / predict.plainRowsPerSecond),
    },
  };
  console.log(`${backend}:`, JSON.stringify(report[backend]));
}
rmSync(dirname(modelDirectory), { recursive: true, force: true });

// Headline ratios on wasm, the default backend of both the trainer and the predictor (and the
// faster one: the single-process baseline is the best TF.js can do here).
report.training_vs_single_process = report.wasm.training.ratio;
report.predict_vs_plain_loop = report.wasm.prediction.ratio;
report.wasm_vs_cpu = {
  training_single_process: round(
    report.wasm.training.single_process_samples_per_second /
      report.cpu.training.single_process_samples_per_second,
  ),
  training_distributed: round(
    report.wasm.training.ps_2_workers_1_ps_samples_per_second /
      report.cpu.training.ps_2_workers_1_ps_samples_per_second,
  ),
  prediction_operator: round(
    report.wasm.prediction.operator_rows_per_second / report.cpu.prediction.operator_rows_per_second,
  ),
};
report.targets = { training_vs_single_process: 0.8, predict_vs_plain_loop: 0.9 };
console.log(`training_vs_single_process ${report.training_vs_single_process} (target ≥ 0.8)`);
console.log(`predict_vs_plain_loop ${report.predict_vs_plain_loop} (target ≥ 0.9)`);
console.log(`wasm vs cpu: ${JSON.stringify(report.wasm_vs_cpu)}`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'tensorflow.json'), `${JSON.stringify(report, null, 2)}\n`);
