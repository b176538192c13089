// A job module for the CLI tests: an unbounded stream (a generator without a count, 5,000 records
// a second) into a cluster of two summing runners (examples/stream-to-cluster's). It never ends on
// its own: only a stop (`millrace stop` through the join URL `--shared-dir` publishes) or Ctrl-C.
import { fileURLToPath } from 'node:url';
import { defineJobModule, Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';

const summingRunner = fileURLToPath(
  new URL('../../../../examples/stream-to-cluster/src/summing-runner.mjs', import.meta.url),
);

export const job = defineJobModule(async ({ args, track }) => {
  const marker = args[0] ?? 'millrace-cli-test';
  const pipeline = new Job({ name: 'endless' });
  addAMRole(
    pipeline,
    { name: 'endless', engine: 'generic', roles: { summer: { instances: 2 } } },
    { engine: createGenericEngine({ roles: ['summer'] }) },
  );
  addRole(pipeline, 'summer', {
    instances: 2,
    input: pipeline.generate((i) => i + 1, { name: 'numbers', ratePerSecond: 5_000 }),
    runner: streamProcessRunner({
      command: process.execPath,
      args: [summingRunner, marker],
      output: 'ignore',
    }),
  });
  track(pipeline);
  const result = await pipeline.execute();
  if (result.status !== 'cancelled') throw new Error(`an endless job cannot end ${result.status}`);
});
