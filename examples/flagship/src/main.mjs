/**
 * The flagship: a click stream drives distributed TF.js training, then in-process prediction.
 *
 *   npm run flagship                                   (from the repository root)
 *   npx millrace run examples/flagship [--chaos]
 *   node examples/flagship/src/main.mjs [--chaos] [--result-file result.json]
 *
 * --chaos kills worker[1]'s training process with SIGKILL mid-run; the engine restarts it alone,
 * replay hands it the records its last checkpoint did not hold, and the job still finishes with
 * every training record in the final checkpoint.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { defineJobModule, isMainModule, runJobModule } from '@millrace/dataflow';
import { runFlagship } from './flagship.mjs';

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({
    args,
    options: {
      chaos: { type: 'boolean', default: false },
      train: { type: 'string', default: '240000' },
      test: { type: 'string', default: '60000' },
      seed: { type: 'string', default: '7' },
      'result-file': { type: 'string' },
    },
  });
  const result = await runFlagship({
    chaos: values.chaos,
    trainImpressions: positiveInteger(values.train, '--train'),
    testImpressions: positiveInteger(values.test, '--test'),
    seed: positiveInteger(values.seed, '--seed'),
    log,
    track,
    signal,
  });
  if (values['result-file']) writeFileSync(values['result-file'], `${JSON.stringify(result, null, 2)}\n`);
});

function positiveInteger(text, flag) {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${flag} must be a positive integer, got '${text}'`);
  return value;
}

if (isMainModule(import.meta.url)) await runJobModule(job);
