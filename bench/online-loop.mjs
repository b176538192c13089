#!/usr/bin/env node
// Online-loop benchmark: prediction that follows published model versions, one run, side by side.
//  1. swap_latency_ms: from a version's publishing (its manifest's publishedAt) to the first
//     batch predicted with it (the operator's model-version-served event), on the flagship's
//     TF.js model (53 inputs, 32-16-1), wasm backend; median and worst over every swap.
//  2. prediction_during_swaps_vs_steady: rows/s of predictWithTensorflow while another process
//     publishes a new version every second (a trainer checkpointing every second), against rows/s with one fixed version, alternating trials.
// Both competitors score the same rows; the harness refuses to report unless each scored every
// row exactly once. Needs the packages built (npm run bench does it).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from '@millrace/dataflow';
import { featureCount } from '@millrace/example-flagship/features';
import { createModel } from '@millrace/example-flagship/model';
import {
  predictWithTensorflow,
  publishModelVersion,
  saveModelTo,
  useBackend,
} from '@millrace/plugin-tensorflow';

const here = dirname(fileURLToPath(import.meta.url));
const rows = Number(process.env.BENCH_ONLINE_ROWS ?? 300_000);
const trials = Number(process.env.BENCH_ONLINE_TRIALS ?? 3);
const publishEveryMs = 1000;
const loadAverageAtStart = os.loadavg()[0];

const backend = await useBackend('wasm');
const scratch = mkdtempSync(join(tmpdir(), 'millrace-bench-online-'));
const modelCount = 12;
const models = [];
for (let k = 0; k < modelCount; k++) {
  const path = join(scratch, 'models', `model-${k}`);
  await saveModelTo(createModel(), path);
  models.push(path);
}
const features = new Float32Array(rows * featureCount);
for (let i = 0; i < features.length; i++) features[i] = ((i * 2654435761) % 1000) / 1000;
const input = Array.from({ length: rows }, (_, id) => id);

const publisherProgram = `
import { publishModelVersion } from '@millrace/plugin-tensorflow';
const models = JSON.parse(process.env.BENCH_MODELS);
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
for (let k = 1; ; k++) {
  await new Promise((resolve) => setTimeout(resolve, ${publishEveryMs}));
  await publishModelVersion(process.env.BENCH_VERSIONS, { path: models[k % models.length], step: k });
}`;

/** One prediction job over every row; with `swapping`, a new version is published every 250 ms. */
async function predictionRun(swapping) {
  const directory = mkdtempSync(join(scratch, 'versions-'));
  await publishModelVersion(directory, { path: models[0], step: 0 });
  const served = [];
  const job = new Job({ name: 'bench-online-loop', batchSize: 512 });
  job.onEvent((event) => {
    if (event.type === 'operator-event' && event.payload?.type === 'model-version-served')
      served.push(event.payload);
  });
  const seen = new Uint8Array(rows);
  let duplicates = 0;
  job
    .fromIterable(input, { name: 'rows' })
    .transform(
      predictWithTensorflow({
        follow: { directory, pollMs: 50 },
        backend,
        features: (id) => features.subarray(id * featureCount, (id + 1) * featureCount),
        result: (id, output, version) => ({ id, score: output[0], version: version.version }),
      }),
      { name: 'predict', parallelism: 1 },
    )
    .forEach((record) => {
      if (seen[record.id]) duplicates += 1;
      seen[record.id] = 1;
    });
  // Versions come from another process, as they do from a training cluster; it starts (and
  // loads its modules) before the clock does.
  const publisher = swapping
    ? spawn(process.execPath, ['--input-type=module', '--eval', publisherProgram], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, BENCH_VERSIONS: directory, BENCH_MODELS: JSON.stringify(models) },
      })
    : undefined;
  if (publisher) {
    await new Promise((resolve, reject) => {
      publisher.stdout.once('data', resolve);
      publisher.once('exit', (code) => reject(new Error(`the publisher exited with ${code}`)));
    });
    publisher.stdin.write('go\n');
  }
  const started = performance.now();
  const result = await job.execute();
  const seconds = (performance.now() - started) / 1000;
  if (publisher) {
    publisher.kill('SIGTERM');
    await new Promise((resolve) =>
      publisher.exitCode === null ? publisher.once('exit', resolve) : resolve(),
    );
  }
  rmSync(directory, { recursive: true, force: true });
  if (result.status !== 'finished') throw new Error(`prediction job ${result.status}`);
  const missing = rows - seen.reduce((sum, value) => sum + value, 0);
  if (missing || duplicates)
    throw new Error(`refusing to report: ${missing} rows unscored, ${duplicates} scored twice`);
  const latencies = served
    .filter((event) => event.version > 1)
    .map((event) => Date.parse(event.servedAt) - Date.parse(event.publishedAt));
  return { rowsPerSecond: rows / seconds, swaps: served.length - 1, latencies };
}

const steady = [];
const swapping = [];
const latencies = [];
let swaps = 0;
await predictionRun(false); // warm-up: wasm kernels, first model load
for (let trial = 0; trial < trials; trial++) {
  const fixed = await predictionRun(false);
  const moving = await predictionRun(true);
  steady.push(Math.round(fixed.rowsPerSecond));
  swapping.push(Math.round(moving.rowsPerSecond));
  latencies.push(...moving.latencies);
  swaps += moving.swaps;
  console.log(
    `trial ${trial}: steady ${Math.round(fixed.rowsPerSecond)} rows/s, with swaps ${Math.round(moving.rowsPerSecond)} rows/s (${moving.swaps} swaps)`,
  );
}
rmSync(scratch, { recursive: true, force: true });
if (latencies.length === 0)
  throw new Error('no version was swapped in while rows flowed; raise BENCH_ONLINE_ROWS');
latencies.sort((a, b) => a - b);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const report = {
  machine: {
    cpus: os.cpus().length,
    node: process.version,
    load_average_at_start: loadAverageAtStart,
    load_average_at_end: os.loadavg()[0],
  },
  model: 'examples/flagship model.mjs: dense 53→32→16→1',
  backend,
  rows,
  trials,
  publish_every_ms: publishEveryMs,
  swap_latency_ms: median(latencies),
  swap_latency_ms_worst: latencies.at(-1),
  swaps,
  steady_rows_per_second: median(steady),
  during_swaps_rows_per_second: median(swapping),
  prediction_during_swaps_vs_steady: Number((median(swapping) / median(steady)).toFixed(3)),
  all_trials_steady: steady,
  all_trials_during_swaps: swapping,
};
console.log(
  `swap latency ${report.swap_latency_ms} ms (worst ${report.swap_latency_ms_worst} ms over ${swaps} swaps); ` +
    `prediction during swaps vs steady ${report.prediction_during_swaps_vs_steady} (load ${loadAverageAtStart.toFixed(2)})`,
);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'online-loop.json'), `${JSON.stringify(report, null, 2)}\n`);
