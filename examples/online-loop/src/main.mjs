/**
 * The online loop: training and prediction on one click stream, in one job.
 *
 *   npx millrace run examples/online-loop [--chaos]
 *   node examples/online-loop/src/main.mjs [--chaos] [--impressions 240000] [--windows 8] [--result-file result.json]
 *
 * --chaos kills worker[1]'s training process with SIGKILL mid-run; the engine restarts it alone
 * while prediction keeps serving the newest version it has.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { defineJobModule, isMainModule, runJobModule } from '@millrace/dataflow';
import { runOnlineLoop } from './online-loop.mjs';

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({
    args,
    options: {
      chaos: { type: 'boolean', default: false },
      impressions: { type: 'string', default: '240000' },
      windows: { type: 'string', default: '8' },
      seed: { type: 'string', default: '7' },
      'result-file': { type: 'string' },
    },
  });
  const result = await runOnlineLoop({
    chaos: values.chaos,
    impressions: positiveInteger(values.impressions, '--impressions'),
    windows: positiveInteger(values.windows, '--windows'),
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
