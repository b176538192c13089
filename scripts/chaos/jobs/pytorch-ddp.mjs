/**
 * Chaos job: a PyTorch DDP cluster of 2 workers (gloo) inside a dataflow job, training with
 * checkpoints (test/src/fixtures/pytorch/ddp_checkpointed.py); a failure restarts both workers
 * from the last checkpoint (restart-all).
 *
 *   npx millrace run scripts/chaos/jobs/pytorch-ddp.mjs -- --steps 200
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defineJobModule, isMainModule, Job, runJobModule } from '@millrace/dataflow';
import { pytorch, torchRunner } from '@millrace/plugin-pytorch';
import { addAMRole, addRole } from '@millrace/runtime';

const entry = fileURLToPath(
  new URL('../../../test/src/fixtures/pytorch/ddp_checkpointed.py', import.meta.url),
);

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const { values } = parseArgs({ args, options: { steps: { type: 'string', default: '200' } } });
  const training = new Job({ name: 'chaos-pytorch-ddp' });
  addAMRole(
    training,
    {
      name: 'chaos-torch',
      engine: 'pytorch',
      roles: { worker: { instances: 2 } },
      maxRestarts: 3,
      restartBackoff: { initialMs: 100, maxMs: 1_000 },
    },
    { engine: pytorch },
  );
  addRole(training, 'worker', {
    instances: 2,
    runner: torchRunner({
      entry: `${entry}:main`,
      python: process.env.MILLRACE_PYTHON ?? '/usr/bin/python3',
      env: { STEPS: values.steps, CHECKPOINT_EVERY: '10', STEP_DELAY_MS: '20' },
      output: 'ignore',
      gracePeriodMs: 2_000,
    }),
  });
  track(training);
  const outcome = await training.execute({ signal });
  if (outcome.status === 'finished') log('training finished');
});

if (isMainModule(import.meta.url)) await runJobModule(job);
