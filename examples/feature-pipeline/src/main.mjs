/**
 * Feature engineering on a click stream.
 *
 *   npx millrace run examples/feature-pipeline -- --clicks 20000 --out features.jsonl
 *   node examples/feature-pipeline/src/main.mjs --clicks 20000
 *
 * Without --out the features are printed, one JSON object per line.
 */
import { parseArgs } from 'node:util';
import { defineJobModule, isMainModule, Job, runJobModule } from '@millrace/dataflow';
import { clickLogLine, profileChangelog } from './click-log.mjs';
import { buildFeaturePipeline } from './pipeline.mjs';

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({
    args,
    options: {
      clicks: { type: 'string', default: '20000' },
      users: { type: 'string', default: '50' },
      parallelism: { type: 'string', default: '2' },
      out: { type: 'string' },
    },
  });
  const clicks = positiveInteger(values.clicks, '--clicks');
  const users = positiveInteger(values.users, '--users');
  const parallelism = positiveInteger(values.parallelism, '--parallelism');

  const pipeline = new Job({ name: 'feature-pipeline' });
  const clickLog = pipeline.generate((i) => clickLogLine(i, users), { count: clicks, name: 'click-log' });
  const profiles = pipeline.fromIterable(() => profileChangelog(users), { name: 'profiles' });
  const features = buildFeaturePipeline({ clickLog, profiles, parallelism });
  if (values.out) features.toFile(values.out, { name: 'features-file' });
  else features.print({ name: 'features' });

  track(pipeline);
  const result = await pipeline.execute({ signal });
  const window = result.metrics.find((m) => m.operator === 'window-features');
  log(
    `${result.status}: ${clicks} clicks → ${window?.recordsOut ?? 0} feature rows` +
      (values.out ? ` in ${values.out}` : '') +
      (window?.extra.lateRecordsDropped ? ` (${window.extra.lateRecordsDropped} late clicks dropped)` : ''),
  );
});

function positiveInteger(text, flag) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${flag} must be a positive integer, got '${text}'`);
  return value;
}

if (isMainModule(import.meta.url)) await runJobModule(job);
