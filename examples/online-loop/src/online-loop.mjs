/**
 * The online loop as a function: one dataflow job in which the flagship's click stream feeds
 * TF.js parameter-server training (2 workers + 1 ps) and, at the same time, in-process prediction
 * that follows the model versions the training cluster publishes. Each impression is scored by
 * the newest version loaded when it arrives, before the trainers learn from it (progressive
 * validation), so the AUC of each window of the stream shows the loop closing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msgpackCodec } from '@millrace/bridge-shm';
import { Job } from '@millrace/dataflow';
import {
  createWorld,
  impressionLine,
  impressionSpacingMs,
  profiles,
  startTime,
} from '@millrace/example-flagship/click-log';
import { areaUnderCurve } from '@millrace/example-flagship/evaluation';
import { buildFeatures, encodeFeatures } from '@millrace/example-flagship/features';
import {
  createTensorflowEngine,
  modelVersionNumbers,
  predictWithTensorflow,
  publishModelVersion,
  saveModelTo,
  tensorflowTrainer,
  useBackend,
} from '@millrace/plugin-tensorflow';
import { addAMRole, addRole } from '@millrace/runtime';
import { chaosVariable, createModel } from './model.mjs';

const modelModule = new URL('./model.mjs', import.meta.url).pathname;

/**
 * @param {{ impressions?: number, windows?: number, seed?: number, chaos?: boolean,
 *   checkpointEverySteps?: number, checkpointDirectory?: string, log?: (line: string) => void,
 *   track?: (job: Job) => void, signal?: AbortSignal }} options
 */
export async function runOnlineLoop(options = {}) {
  const impressions = options.impressions ?? 240_000;
  const windows = options.windows ?? 8;
  const seed = options.seed ?? 7;
  const log = options.log ?? ((line) => console.log(line));
  const ownDirectory = options.checkpointDirectory === undefined;
  const checkpointDirectory =
    options.checkpointDirectory ?? mkdtempSync(join(tmpdir(), 'millrace-online-loop-'));
  const world = createWorld({ seed });
  const started = performance.now();
  try {
    // Version 1 is the untrained model, so prediction serves from the first impression on. It is
    // published, not checkpointed: the parameter server starts from its own initial values.
    await useBackend('wasm');
    const initial = join(checkpointDirectory, 'initial-model');
    await saveModelTo(createModel(), initial);
    await publishModelVersion(checkpointDirectory, { path: initial, step: 0 });

    // Prediction can run ahead of training by what the channels and the workers' rings hold.
    // Small batches and rings keep that lead near 10,000 impressions; with the defaults a slow
    // start of the training processes let prediction score the whole stream with version 1.
    const job = new Job({ name: 'online-loop', batchSize: 256 });
    const engine = createTensorflowEngine({ mode: 'stream', training: 'async' });
    addAMRole(
      job,
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
    const lines = job.generate((i) => impressionLine(world, i), {
      count: impressions,
      name: 'impressions',
      parallelism: 1,
    });
    const enriched = buildFeatures({
      lines,
      profiles: job.fromIterable(() => profiles(world), { name: 'profiles' }),
      parallelism: 2,
    });

    // Training: the same enriched stream, encoded, into the workers' rings.
    const examples = enriched.map((record) => ({ features: encodeFeatures(record), label: record.clicked }), {
      name: 'encode',
      parallelism: 2,
    });
    const trainer = tensorflowTrainer({
      module: modelModule,
      batchSize: 128,
      optimizer: 'adam',
      learningRate: 0.005,
      loss: 'binaryCrossentropy',
      checkpointEverySteps: options.checkpointEverySteps ?? 50,
      ringCapacityBytes: 1 << 18, // about 2,700 impressions per worker (see the Job above)
    });
    addRole(job, 'worker', { instances: 2, input: examples, runner: trainer, codec: msgpackCodec });
    addRole(job, 'ps', { instances: 1, runner: trainer, codec: msgpackCodec });

    // Prediction: every impression, scored by the newest published version.
    const scored = enriched
      .transform(
        predictWithTensorflow({
          follow: {
            directory: checkpointDirectory,
            pollMs: 100,
            logger: {
              debug: () => {},
              info: () => {},
              warn: (message) => log(`prediction: ${message}`),
              error: (message) => log(`prediction: ${message}`),
            },
          },
          features: encodeFeatures,
          result: (record, output, version) => ({
            index: (record.timestamp - startTime) / impressionSpacingMs,
            label: record.clicked,
            score: output[0],
            version: version.version,
            at: performance.now(),
          }),
        }),
        { name: 'predict', parallelism: 1 },
      )
      .collect();

    const progress = loopProgress({ log });
    job.onEvent(progress.onEvent);
    options.track?.(job);
    // Training processes inherit this process's environment; model.mjs reads the variable there.
    if (options.chaos) process.env[chaosVariable] = String(Math.round(impressions / 8));
    const outcome = await job.execute({ signal: options.signal }).finally(() => {
      delete process.env[chaosVariable];
      progress.stop();
    });
    if (outcome.status !== 'finished') throw new Error(`online-loop job ${outcome.status}`);

    const records = scored.records;
    const byIndex = [...records].sort((a, b) => a.index - b.index);
    const windowSize = Math.ceil(byIndex.length / windows);
    const perWindow = [];
    for (let start = 0; start < byIndex.length; start += windowSize) {
      const slice = byIndex.slice(start, start + windowSize);
      const versions = slice.map((record) => record.version);
      perWindow.push({
        window: perWindow.length,
        first: slice[0].index,
        last: slice.at(-1).index,
        auc: areaUnderCurve(
          slice.map((record) => record.score),
          slice.map((record) => record.label),
        ),
        oldestVersion: Math.min(...versions),
        newestVersion: Math.max(...versions),
      });
    }
    // Seconds between two consecutive predictions (by when they were made): a stall in serving.
    const times = records.map((record) => record.at).sort((a, b) => a - b);
    let longestPauseMs = 0;
    for (let k = 1; k < times.length; k++) longestPauseMs = Math.max(longestPauseMs, times[k] - times[k - 1]);
    const result = {
      impressions,
      scoredRecords: records.length,
      distinctScored: new Set(records.map((record) => record.index)).size,
      windows: perWindow,
      versionsServed: [...new Set(records.map((record) => record.version))].sort((a, b) => a - b),
      // In the order prediction emitted (one subtask): a later record never used an older version.
      versionsOnlyGrow: records.every((record, k) => k === 0 || record.version >= records[k - 1].version),
      versionsPublished: await modelVersionNumbers(checkpointDirectory),
      swaps: progress.swaps(),
      refused: progress.refused(),
      longestPredictionPauseMs: longestPauseMs,
      restarts: progress.restarts(),
      chaosKilled: progress.killed(),
      totalSeconds: (performance.now() - started) / 1000,
    };
    for (const window of perWindow) {
      log(
        `window ${window.window} (impressions ${window.first}–${window.last}): AUC ${window.auc.toFixed(4)}, ` +
          `model versions ${window.oldestVersion}–${window.newestVersion}`,
      );
    }
    log(
      `scored ${result.scoredRecords} of ${impressions} impressions (${result.distinctScored} distinct) with ` +
        `${result.versionsServed.length} model versions; longest pause between predictions ${Math.round(longestPauseMs)} ms; ` +
        `restarts ${result.restarts}${result.chaosKilled ? ` (chaos killed ${result.chaosKilled})` : ''}; total ${result.totalSeconds.toFixed(1)} s`,
    );
    return result;
  } finally {
    if (ownDirectory) rmSync(checkpointDirectory, { recursive: true, force: true });
  }
}

/** Live progress: model versions as prediction serves them, and the cluster's restarts. */
function loopProgress({ log }) {
  let restarts = 0;
  let killed;
  let swaps = 0;
  let refused = 0;
  let serving;
  const onEvent = (event) => {
    if (event.type === 'operator-event' && event.payload?.type === 'model-version-served') {
      swaps += 1;
      serving = event.payload;
    }
    if (event.type === 'operator-event' && event.payload?.type === 'model-version-refused') refused += 1;
    if (event.type !== 'cluster-observation') return;
    const observation = event.observation;
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
        `cluster: ${failure.role}[${failure.index}] failed (${failure.signal ?? `exit ${failure.exitCode}`})`,
      );
    }
  };
  const timer = setInterval(() => {
    if (serving) log(`prediction: serving model version ${serving.version} (training step ${serving.step})`);
  }, 2_000);
  return {
    onEvent,
    stop: () => clearInterval(timer),
    swaps: () => swaps,
    refused: () => refused,
    restarts: () => restarts,
    killed: () => killed,
  };
}
