/**
 * Stream training with PyTorch inside a pipeline, then ONNX prediction in process.
 *
 *   node examples/pytorch-stream-train/src/main.mjs [--seed 7] [--impressions 16000]
 *   npx millrace run examples/pytorch-stream-train -- --seed 7
 *
 * Prints the loss of every training step, then held-out accuracy and AUC next to the oracle's
 * (the known ground truth's), and how closely torch and ONNX agree. Exits non-zero when the
 * stated quality (see pipeline.mjs `statedQuality`) is not reached.
 */
import { parseArgs } from 'node:util';
import { defineJobModule, isMainModule, runJobModule } from '@millrace/dataflow';
import { defaults, qualityProblems, trainAndPredict } from './pipeline.mjs';

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: 'string', default: String(defaults.seed) },
      impressions: { type: 'string', default: String(defaults.trainingImpressions) },
      python: { type: 'string' },
    },
  });
  const seed = Number(values.seed);
  const trainingImpressions = Number(values.impressions);
  for (const [name, value] of [
    ['--seed', seed],
    ['--impressions', trainingImpressions],
  ]) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  }
  const result = await trainAndPredict({
    seed,
    trainingImpressions,
    python: values.python,
    signal,
    track,
    log,
    // Every line a worker prints (its loss at every step), prefixed with its rank.
    workerOutput: (line, _stream, context) => log(`[rank ${context.environment.RANK}] ${line}`),
  });
  if (signal.aborted) return;
  log(`held-out impressions: ${result.heldOut}`);
  log(`accuracy ${result.accuracy.toFixed(4)} (oracle ${result.oracleAccuracy.toFixed(4)})`);
  log(`AUC      ${result.auc.toFixed(4)} (oracle ${result.oracleAuc.toFixed(4)})`);
  log(
    `torch vs ONNX: max |difference| ${result.maxTorchOnnxDifference.toExponential(2)} over ${result.torchPredictions} predictions`,
  );
  const problems = qualityProblems(result);
  if (problems.length) throw new Error(`the example missed its stated quality:\n  ${problems.join('\n  ')}`);
  log('stated quality reached ✓');
});

if (isMainModule(import.meta.url)) await runJobModule(job);
