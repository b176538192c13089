#!/usr/bin/env node
// TensorFlow.js benchmark. Every measurement is a fresh Node process (bench/tensorflow/measure.mjs),
// the variants take turns for `rounds` rounds:
//  1. quality and time to quality: parameter-server training with 2 workers + 1 ps (three
//     processes, checkpoints on), in the trainer's async mode (the default) and in sync mode,
//     against single-process TF.js training of the same model on the same batches. Quality is the
//     AUC on held-out rows no run trains on, of the final model and of every checkpoint;
//     quality_gap_auc = single-process AUC − distributed AUC (target ≤ 0.005), and
//     time_to_quality_vs_single_process = the single process's seconds to reach its own final AUC
//     minus 0.005, over the distributed run's seconds to reach the same AUC (> 1: faster; null
//     when the distributed run never reaches it);
//  2. prediction rows/s: the in-pipeline prediction operator against `model.predict` in a plain
//     loop over the same rows.
// Writes bench/results/tensorflow.json, with the machine load before each run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.env.BENCH_TF_ROUNDS ?? 3);
const settings = {
  backend: 'wasm',
  batchSize: 256,
  batchesPerWorker: Number(process.env.BENCH_TF_BATCHES ?? 300),
  hidden: 64,
  learningRate: 0.01,
  checkpointEverySteps: 25,
  heldOutRows: 20_000,
};
const tolerance = 0.005;

const median = (values) => {
  const present = values.filter((value) => value !== null && value !== undefined);
  if (present.length === 0) return null;
  const sorted = [...present].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round = (value, digits = 3) => (value === null ? null : Number(value.toFixed(digits)));

function measure(mode) {
  const load1 = loadavg()[0];
  const run = spawnSync(process.execPath, [join(here, 'tensorflow', 'measure.mjs'), mode], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
    env: { ...process.env, BENCH_TF_SETTINGS: JSON.stringify(settings) },
  });
  if (run.status !== 0)
    throw new Error(`bench/tensorflow/measure.mjs ${mode} exited ${run.status ?? run.signal}`);
  return { ...JSON.parse(run.stdout.trim().split('\n').at(-1)), load1 };
}

/** Seconds until a snapshot's AUC first reaches `target`, or null. */
const timeTo = (run, target) => run.snapshots.find((snapshot) => snapshot.auc >= target)?.seconds ?? null;
const finalAuc = (run) => run.snapshots.at(-1).auc;

const runs = { single: [], async: [], sync: [], predict: [] };
const perRound = [];
for (let trial = 0; trial < rounds; trial++) {
  const order = ['single', 'async', 'sync'];
  for (let i = 0; i < trial; i++) order.push(order.shift());
  for (const mode of order) runs[mode].push(measure(mode));
  runs.predict.push(measure('predict'));
  const single = runs.single.at(-1);
  const target = finalAuc(single) - tolerance;
  const singleTime = timeTo(single, target);
  const row = { singleAuc: finalAuc(single), target, singleSeconds: singleTime };
  for (const mode of ['async', 'sync']) {
    const run = runs[mode].at(-1);
    const reached = timeTo(run, target);
    row[mode] = {
      auc: finalAuc(run),
      gap: finalAuc(single) - finalAuc(run),
      secondsToTarget: reached,
      timeToQualityVsSingle: reached === null ? null : singleTime / reached,
    };
  }
  perRound.push(row);
  console.log(
    `round ${trial + 1}: held-out AUC single ${row.singleAuc.toFixed(4)} (${single.seconds.toFixed(1)} s), ` +
      `async ${row.async.auc.toFixed(4)} (gap ${row.async.gap.toFixed(4)}, ${runs.async.at(-1).seconds.toFixed(1)} s), ` +
      `sync ${row.sync.auc.toFixed(4)} (gap ${row.sync.gap.toFixed(4)}, ${runs.sync.at(-1).seconds.toFixed(1)} s); ` +
      `to AUC ${target.toFixed(4)}: single ${round(singleTime, 2)} s, async ${round(row.async.secondsToTarget, 2)} s, ` +
      `sync ${round(row.sync.secondsToTarget, 2)} s; load ${single.load1.toFixed(1)}`,
  );
}

const modeSummary = (mode) => ({
  quality_gap_auc: round(median(perRound.map((row) => row[mode].gap)), 4),
  held_out_auc: round(median(perRound.map((row) => row[mode].auc)), 4),
  time_to_quality_vs_single_process: round(median(perRound.map((row) => row[mode].timeToQualityVsSingle)), 3),
  rounds_reaching_the_target: perRound.filter((row) => row[mode].secondsToTarget !== null).length,
  training_seconds: round(median(runs[mode].map((run) => run.seconds)), 2),
  final_loss: round(median(runs[mode].map((run) => run.loss)), 4),
});
const loads = Object.values(runs)
  .flat()
  .map((run) => run.load1);
const predictRatios = runs.predict.map((run) => run.operatorRowsPerSecond / run.plainRowsPerSecond);
const asyncSummary = modeSummary('async');
const report = {
  benchmark: 'tensorflow',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    node: process.version,
    loadBeforeRuns: {
      min: round(Math.min(...loads), 2),
      median: round(median(loads), 2),
      max: round(Math.max(...loads), 2),
    },
    loadAverageAtEnd: loadavg().map((value) => round(value, 2)),
  },
  // Headline: the trainer's default mode (async).
  quality_gap_auc: asyncSummary.quality_gap_auc,
  time_to_quality_vs_single_process: asyncSummary.time_to_quality_vs_single_process,
  predict_vs_plain_loop: round(median(predictRatios)),
  targets: { quality_gap_auc: 0.005, predict_vs_plain_loop: 0.9 },
  single_process: {
    held_out_auc: round(median(perRound.map((row) => row.singleAuc)), 4),
    training_seconds: round(median(runs.single.map((run) => run.seconds)), 2),
    final_loss: round(median(runs.single.map((run) => run.loss)), 4),
  },
  async: asyncSummary,
  sync: modeSummary('sync'),
  prediction: {
    plain_loop_rows_per_second: Math.round(median(runs.predict.map((run) => run.plainRowsPerSecond))),
    operator_rows_per_second: Math.round(median(runs.predict.map((run) => run.operatorRowsPerSecond))),
  },
  settings: { ...settings, workers: 2, ps: 1, optimizer: 'adam', qualityTolerance: tolerance, rounds },
  notes:
    "Held-out AUC on rows of another seed; the single process trains on both workers' batches interleaved, " +
    'as the ps sees them, and snapshots its weights every checkpointEverySteps steps; the distributed runs ' +
    'write real checkpoints, copied aside as they appear. Times count from the first batch. Medians over rounds.',
  per_round: perRound,
  runs,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'tensorflow.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(
  `quality_gap_auc ${report.quality_gap_auc} (async; target ≤ ${tolerance}; sync ${report.sync.quality_gap_auc}), ` +
    `time_to_quality_vs_single_process ${report.time_to_quality_vs_single_process} (async; sync ` +
    `${report.sync.time_to_quality_vs_single_process}), predict_vs_plain_loop ${report.predict_vs_plain_loop}`,
);
