// A job module for the multi-host tests: run the same file on every host with
// `millrace run hosts-job.mjs --hosts N --host-index I --shared-dir D -- MODE OUT COUNT MARKER`.
// It generates COUNT records {id}, hands them to a stream-mode role `worker` (one instance per
// host by default placement), and writes what the runners return into OUT/host-I.jsonl, so a test
// can count that every id reached exactly one runner across hosts. MODE `fail` makes worker 1 fail;
// `sink-fail` makes host 1's own pipeline fail after its runner returned record 41.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineJobModule, Job } from '@millrace/dataflow';
import { addAMRole, addRole, createGenericEngine, streamProcessRunner } from '@millrace/runtime';

const runner = fileURLToPath(new URL('./hosts-runner.mjs', import.meta.url));

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const [mode = 'succeed', out = '.', count = '200', marker = 'millrace-hosts-test'] = args;
  const job = new Job({ name: 'hosts-job', batchSize: 16 });
  const workers = job.hosts.count;
  log(`host ${job.hosts.index} of ${job.hosts.count}`);
  addAMRole(
    job,
    {
      name: 'hosts',
      engine: 'generic',
      roles: { worker: { instances: workers } },
      maxRestarts: 0,
      heartbeat: { intervalMs: 250, missedLimit: 8 },
    },
    { engine: createGenericEngine({ roles: ['worker'] }) },
  );
  const records = job.generate((id) => ({ id }), { count: Number(count) });
  addRole(job, 'worker', {
    instances: workers,
    input: records,
    runner: streamProcessRunner({
      command: process.execPath,
      args: [runner, marker],
      env: { HOSTS_TEST_MODE: mode, HOSTS_TEST_HOST: String(job.hosts.index) },
      gracePeriodMs: 1_000,
    }),
  })
    .map((record) => {
      // Mode `sink-fail`: host 1's own part of the job fails (not a runner): the cluster must stop.
      if (mode === 'sink-fail' && job.hosts.index === 1 && record.id === 41)
        throw new Error('sink on host 1 broke');
      return record;
    })
    .toFile(join(out, `host-${job.hosts.index}.jsonl`));
  track(job);
  await job.execute({ signal });
});
