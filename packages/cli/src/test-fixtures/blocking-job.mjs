// A job module for the CLI tests: a local cluster of one worker (a `node -e` runner that lives
// for 8 s reporting metrics) next to a pipeline whose map holds the job's thread for 5 s without
// pause, as a stage computing something would. `millrace run` must keep reporting meanwhile.
import { defineJobModule, Job } from '@millrace/dataflow';
import { createGenericEngine, launchLocalCluster, processRunner } from '@millrace/runtime';

export const job = defineJobModule(async ({ args, track, log }) => {
  const blockMs = Number(args[0] ?? 5_000);
  const marker = args[1] ?? 'millrace-cli-test';
  const cluster = launchLocalCluster({
    engine: createGenericEngine(),
    config: { name: 'blocking-test', engine: 'generic', roles: { worker: { instances: 1 } } },
    runnerFor: () =>
      processRunner({
        command: process.execPath,
        args: [
          '-e',
          "let step = 0; const t = setInterval(() => console.log('millrace:metrics {\"step\":' + ++step + '}'), 200); setTimeout(() => clearInterval(t), 8000)",
          marker,
        ],
        output: 'ignore',
        gracePeriodMs: 1000,
      }),
  });
  track(cluster);
  await cluster.waitFor((observation) => observation.type === 'node-started', 30_000);
  const pipeline = new Job({ name: 'blocking', metricsIntervalMs: 200, batchSize: 1 });
  pipeline
    .generate((i) => i, { count: 3, name: 'numbers' })
    .map(
      (value) => {
        if (value !== 1) return value;
        log('holding the thread');
        const until = Date.now() + blockMs;
        while (Date.now() < until) {
          // computing, without a pause
        }
        log('released the thread');
        return value;
      },
      { name: 'busy' },
    )
    .forEach(() => {}, { name: 'sink' });
  track(pipeline);
  const result = await pipeline.execute();
  if (result.status !== 'finished') throw new Error(`the pipeline ${result.status}`);
  const outcome = await cluster.result;
  if (outcome.status !== 'succeeded') throw outcome.error ?? new Error(outcome.reason);
});
