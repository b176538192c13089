// A job module for the CLI tests: one dataflow job with an ML cluster (one source-mode worker, a
// `node -e` runner that lives for 8 s reporting metrics; its AM runs on its own thread) and a
// pipeline stage that, once the worker runs, holds the job's thread for BLOCK_MS without pause,
// as a stage computing something would. `millrace run` must keep reporting meanwhile.
import { defineJobModule, Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, processRunner } from '@millrace/runtime';

export const job = defineJobModule(async ({ args, track, log }) => {
  const blockMs = Number(args[0] ?? 5_000);
  const marker = args[1] ?? 'millrace-cli-test';
  const pipeline = new Job({ name: 'blocking', metricsIntervalMs: 200, batchSize: 1 });
  addAMRole(
    pipeline,
    { name: 'blocking-test', engine: 'generic', roles: { worker: { instances: 1 } } },
    { engine: createGenericEngine({ roles: ['worker'] }) },
  );
  addRole(pipeline, 'worker', {
    instances: 1,
    runner: processRunner({
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
  let resolve;
  const workerStarted = new Promise((settle) => {
    resolve = settle;
  });
  pipeline.onEvent((event) => {
    if (event.type === 'cluster-observation' && event.observation.type === 'node-started') resolve();
  });
  pipeline
    .generate((i) => i, { count: 3, name: 'numbers' })
    .transform(
      ({ subtaskIndex }) => {
        let output;
        return {
          open(context) {
            output = context.output;
          },
          async processBatch(batch) {
            if (subtaskIndex === 0 && batch.includes(1)) {
              await workerStarted;
              log('holding the thread');
              const until = Date.now() + blockMs;
              while (Date.now() < until) {
                // computing, without a pause
              }
              log('released the thread');
            }
            output.emitAll(batch);
          },
        };
      },
      { name: 'busy', parallelism: 1 },
    )
    .forEach(() => {}, { name: 'sink' });
  track(pipeline);
  const result = await pipeline.execute();
  if (result.status !== 'finished') throw new Error(`the job ${result.status}`);
});
