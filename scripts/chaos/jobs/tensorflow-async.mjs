/**
 * Chaos job: a TF.js parameter-server cluster trained asynchronously (2 workers, 1 ps) inside a
 * dataflow job. The workers generate their own batches (test/src/fixtures/tensorflow-clicks-model.mjs),
 * checkpoint every 20 steps, and a killed worker rejoins alone (restart-one); a killed ps restarts
 * the cluster from the last checkpoint.
 *
 *   npx millrace run scripts/chaos/jobs/tensorflow-async.mjs -- --batches 300
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defineJobModule, isMainModule, Job, runJobModule } from '@millrace/dataflow';
import { createTensorflowEngine, tensorflowTrainer } from '@millrace/plugin-tensorflow';
import { addAMRole, addRole } from '@millrace/runtime';

const modelModule = fileURLToPath(
  new URL('../../../test/src/fixtures/tensorflow-clicks-model.mjs', import.meta.url),
);

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({ args, options: { batches: { type: 'string', default: '300' } } });
  const batchesPerWorker = Number(values.batches);
  const training = new Job({ name: 'chaos-tensorflow-async' });
  addAMRole(
    training,
    {
      name: 'chaos-tf',
      engine: 'tensorflow',
      roles: { worker: { instances: 2 }, ps: { instances: 1 } },
      maxRestarts: 3,
      restartBackoff: { initialMs: 100, maxMs: 1_000 },
    },
    { engine: createTensorflowEngine({ training: 'async' }) },
  );
  const trainer = tensorflowTrainer({
    module: modelModule,
    batchSize: 64,
    learningRate: 0.02,
    checkpointEverySteps: 20,
    moduleOptions: { batchesPerWorker },
  });
  addRole(training, 'worker', { instances: 2, runner: trainer });
  addRole(training, 'ps', { instances: 1, runner: trainer });
  track(training);
  const outcome = await training.execute({ signal });
  if (outcome.status === 'finished') log('training finished');
});

if (isMainModule(import.meta.url)) await runJobModule(job);
