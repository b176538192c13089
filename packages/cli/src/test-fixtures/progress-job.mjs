// A job module for the CLI tests: a bounded source (2,000 generated records) into a slow sink, so
// `millrace run` can show how far the job is.
import { setTimeout as sleep } from 'node:timers/promises';
import { defineJobModule, Job } from '@millrace/dataflow';

export const job = defineJobModule(async ({ track }) => {
  const pipeline = new Job({ name: 'progress', metricsIntervalMs: 100, batchSize: 100, channelCapacity: 1 });
  pipeline
    .generate((i) => i, { count: 2_000, name: 'numbers' })
    .forEach(
      async () => {
        await sleep(1);
      },
      { name: 'slow' },
    );
  track(pipeline);
  const result = await pipeline.execute();
  if (result.status !== 'finished') throw new Error(`the job ${result.status}`);
});
