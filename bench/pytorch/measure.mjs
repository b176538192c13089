#!/usr/bin/env node
// One measurement of bench/pytorch.mjs, in a fresh Node process. Prints one JSON line.
//
//   measure.mjs ring-example   DDP fed as examples/pytorch-stream-train feeds it: the example's
//                              impressions → its `features` stage (mapBatches: trainingFrame of up
//                              to `batch` rows) → addRole (stream mode, tensor codec) → torchRunner
//                              → frame_dataset(frames="batches") cutting `batch` rows per step
//   measure.mjs ring-rows      one tensor frame per sample (tensorFrame({ features, label })),
//                              stacked by frame_dataset(frames="rows"): what the example used to do
//   measure.mjs ceiling        the same loop over batches already in memory (no feeding at all)
//   measure.mjs mp-queue       the same loop fed whole batches through a multiprocessing.Queue
//   measure.mjs startup        job start to rank 0's first training step, Millrace
//   measure.mjs torchrun       the same through `python3 -m torch.distributed.run`
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensorFrameCodec } from '@millrace/bridge-shm';
import { Job } from '@millrace/dataflow';
import { pytorch, tensorFrame, torchRunner } from '@millrace/plugin-pytorch';
import { addAMRole, addRole, launchLocalCluster } from '@millrace/runtime';
import { impressions } from '../../examples/pytorch-stream-train/src/click-stream.mjs';
import { trainingFrame } from '../../examples/pytorch-stream-train/src/pipeline.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.MILLRACE_PYTHON ?? '/usr/bin/python3';
const mode = process.argv[2];
const model = JSON.parse(process.env.BENCH_PYTORCH_MODEL);
const steps = JSON.parse(process.env.BENCH_PYTORCH_STEPS);
const workers = 2;

const benchEnvironment = (stepCount, warmup) => ({
  BENCH_FEATURES: String(model.features),
  BENCH_HIDDEN: String(model.hidden),
  BENCH_BATCH: String(model.batch),
  BENCH_STEPS: String(stepCount),
  BENCH_WARMUP: String(warmup),
});

/** Collects the JSON line each rank prints at the end (see ddp_loop.py). */
function reportCollector() {
  const reports = [];
  const output = (line, stream) => {
    if (stream === 'stdout' && line.startsWith('{"variant"')) reports.push(JSON.parse(line));
    else if (stream === 'stderr' && /Error|Traceback/.test(line)) console.error(`  worker: ${line}`);
  };
  return { reports, output };
}

const clusterConfig = (name) => ({
  name,
  engine: 'pytorch',
  roles: { worker: { instances: workers } },
  maxRestarts: 0,
  heartbeat: { intervalMs: 500, missedLimit: 20 },
});

function samplesPerSecond(reports, variant) {
  if (reports.length !== workers)
    throw new Error(`${variant}: expected ${workers} reports, got ${reports.length}`);
  return reports.reduce((sum, report) => sum + report.samples_per_second, 0);
}

/** A batch-mode Millrace job running `script` on 2 workers; returns the ranks' reports. */
async function batchModeJob(script, environment, name) {
  const { reports, output } = reportCollector();
  const started = Date.now();
  const cluster = launchLocalCluster({
    engine: pytorch,
    config: clusterConfig(name),
    runnerFor: () => torchRunner({ script: join(here, script), python, env: environment, output }),
  });
  const outcome = await cluster.result;
  if (outcome.status !== 'succeeded')
    throw outcome.error ?? new Error(`${name} ${outcome.status}: ${outcome.reason}`);
  return { reports, started };
}

/** A pool of 8 distinct batches, as the ceiling and the queue producer cycle (uniform in [-1, 1)). */
function batchPool() {
  return Array.from({ length: 8 }, (_, seed) => {
    const features = new Float32Array(model.batch * model.features);
    let state = seed + 1;
    for (let i = 0; i < features.length; i++) {
      state = (state * 1_103_515_245 + 12_345) >>> 0;
      features[i] = state / 2_147_483_648 - 1;
    }
    const label = new Float32Array(model.batch);
    for (let row = 0; row < model.batch; row++) label[row] = features[row * model.features] > 0 ? 1 : 0;
    return { features, label };
  });
}

/** `count` samples from the batch pool, one tensorFrame each, made in the pipeline. */
function sampleFrames(job, count) {
  const pool = batchPool();
  return job.generate(
    (index) => {
      const batch = pool[Math.floor(index / model.batch) % pool.length];
      const row = index % model.batch;
      return tensorFrame({
        features: batch.features.subarray(row * model.features, (row + 1) * model.features),
        label: batch.label[row],
      });
    },
    { count, name: 'sample frames' },
  );
}

/** The pipeline: a source → stream-mode role (2 workers) → ring → frame_dataset → the DDP loop. */
async function ringJob(frames) {
  const { reports, output } = reportCollector();
  const rowsPerWorker = steps.full * model.batch;
  // The example's job keeps the default batch size; one frame per sample moves `batch` per batch.
  const job = new Job({
    name: `bench-pytorch-ring-${frames}`,
    ...(frames === 'rows' ? { batchSize: model.batch } : {}),
  });
  addAMRole(job, clusterConfig(`bench-ring-${frames}`), { engine: pytorch });
  const source =
    frames === 'rows'
      ? // One tensorFrame per sample, made in the pipeline.
        sampleFrames(job, rowsPerWorker * workers)
      : // The example's source and features stage, unchanged.
        job
          .fromIterable(() => impressions(rowsPerWorker * workers, 7), { name: 'impressions' })
          .mapBatches((rows) => [trainingFrame(rows)], { name: 'features', maxBatchSize: model.batch });
  addRole(job, 'worker', {
    instances: workers,
    input: source,
    codec: tensorFrameCodec,
    runner: torchRunner({
      entry: `${join(here, 'ring_entry.py')}:main`,
      python,
      env: {
        ...benchEnvironment(steps.full, steps.warmup),
        BENCH_FRAMES: frames === 'rows' ? 'rows' : 'batches',
      },
      ringBytes: 16 * 1024 * 1024,
      output,
    }),
  });
  const outcome = await job.execute();
  if (outcome.status !== 'finished') throw new Error(`ring job ended ${outcome.status}`);
  return { samplesPerSecond: samplesPerSecond(reports, `ring-${frames}`) };
}

/** `python3 -m torch.distributed.run` on the ceiling script; rank 0's first-step time. */
function torchrunFirstStep(environment) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // --redirects/--tee 2: Debian's torch 1.13 under Python 3.11 crashes on the default "0"
    // (Std.from_str cannot find the zero IntFlag member); redirecting stderr avoids that code path.
    const child = spawn(
      python,
      [
        '-m',
        'torch.distributed.run',
        '--nproc_per_node',
        String(workers),
        '--redirects',
        '2',
        '--tee',
        '2',
        'ceiling.py',
      ],
      { cwd: here, env: { ...process.env, ...environment }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => {
      // The ranks' lines can interleave on torchrun's stdout: pick the JSON objects out.
      const reports = (stdout.match(/\{"variant"[^}]*\}/g) ?? []).map((text) => JSON.parse(text));
      const rank0 = reports.find((report) => report.rank === 0);
      if (code !== 0 || !rank0) reject(new Error(`torchrun exited with ${code}: ${stderr.slice(-2000)}`));
      else resolve({ firstStepMs: rank0.first_step_at * 1000 - started });
    });
  });
}

const measurements = {
  'ring-rows': () => ringJob('rows'),
  'ring-example': () => ringJob('example'),
  ceiling: async () => {
    const { reports } = await batchModeJob(
      'ceiling.py',
      benchEnvironment(steps.full, steps.warmup),
      'bench-ceiling',
    );
    return { samplesPerSecond: samplesPerSecond(reports, 'ceiling') };
  },
  'mp-queue': async () => {
    const { reports } = await batchModeJob(
      'mp_queue.py',
      benchEnvironment(steps.full, steps.warmup),
      'bench-queue',
    );
    return { samplesPerSecond: samplesPerSecond(reports, 'mp_queue') };
  },
  startup: async () => {
    const { reports, started } = await batchModeJob('ceiling.py', benchEnvironment(3, 1), 'bench-startup');
    const rank0 = reports.find((report) => report.rank === 0);
    return { firstStepMs: rank0.first_step_at * 1000 - started };
  },
  torchrun: () => torchrunFirstStep(benchEnvironment(3, 1)),
};
if (!measurements[mode]) {
  console.error(`usage: measure.mjs ${Object.keys(measurements).join('|')}`);
  process.exit(2);
}
console.log(JSON.stringify({ mode, ...(await measurements[mode]()) }));
process.exit(0);
