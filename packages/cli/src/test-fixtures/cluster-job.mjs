// A job module for the CLI tests: a local cluster of N workers whose runners are `node -e`
// processes. `fail` as the second argument makes worker 0 fail every attempt; `chatty` makes each
// runner print a line of its own on stdout and stderr (output: 'inherit').
import { CancelledError } from '@millrace/core';
import { defineJobModule } from '@millrace/dataflow';
import { createGenericEngine, launchLocalCluster, processRunner } from '@millrace/runtime';

export const job = defineJobModule(async ({ args, signal, track, log }) => {
  const workers = Number(args[0] ?? 2);
  const mode = args[1] ?? 'succeed';
  const marker = args[2] ?? 'millrace-cli-test';
  const script =
    mode === 'hang'
      ? 'console.log(\'millrace:metrics {"step":1}\'); setInterval(() => {}, 1000)'
      : mode === 'chatty'
        ? "console.log('hello from ' + process.env.MILLRACE_INDEX); console.error('warning from ' + process.env.MILLRACE_INDEX); setTimeout(() => {}, 200)"
        : mode === 'fail'
          ? "if (process.env.MILLRACE_INDEX === '0') { console.error('worker 0 cannot go on'); process.exit(5) } console.log('millrace:metrics {\"loss\":0.5}'); setTimeout(() => {}, 200)"
          : 'console.log(\'millrace:metrics {"loss":0.5}\'); setTimeout(() => {}, 200)';
  const cluster = launchLocalCluster({
    engine: createGenericEngine(),
    config: {
      name: 'cli-test',
      engine: 'generic',
      roles: { worker: { instances: workers } },
      maxRestarts: 1,
      restartBackoff: { initialMs: 10, maxMs: 10 },
    },
    runnerFor: () =>
      processRunner({
        command: process.execPath,
        args: ['-e', script, marker],
        output: mode === 'chatty' ? 'inherit' : 'ignore',
        gracePeriodMs: 1000,
      }),
  });
  track(cluster);
  signal.addEventListener('abort', () => void cluster.stop('cancelled from the command line'));
  log(`running ${workers} workers`);
  const outcome = await cluster.result;
  if (outcome.status === 'failed') throw outcome.error;
  if (outcome.status === 'stopped') throw new CancelledError(outcome.reason);
});
