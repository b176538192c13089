/**
 * `millrace pytorch run --workers N [--max-restarts K] -- script.py [args]`: a drop-in for
 * `torchrun --nproc-per-node N script.py [args]`. It forms the cluster itself (an application
 * manager and N node agents on this machine, each worker with the torchrun environment), forwards
 * every worker's output prefixed with its rank, restarts every worker when one fails (DDP cannot
 * lose a rank; bounded by --max-restarts), and exits with the job's status: 0 on success, the
 * failed worker's exit code (or 1) on failure, 130 when interrupted.
 *
 * On several hosts (torchrun's `--nnodes N --node-rank I`): `millrace pytorch run --hosts N
 * --host-index I [--shared-dir D | --join URL] --workers P -- script.py` on every host. The world
 * is N × P ranks; host I runs ranks I·P … I·P + P − 1 (contiguous placement), host 0 serves the
 * application manager (or the one the join URL names is used), and every host exits with the
 * job's status. This runs the cluster as a dataflow job (addAMRole / addRole), the one
 * implementation of one job on several hosts.
 */
import {
  CancelledError,
  type ClusterObservation,
  ConfigError,
  describeNodeFailure,
  type JobFailedError,
  MillraceError,
} from '@millrace/core';
import { Job } from '@millrace/dataflow';
import { createPytorchEngine, pytorchBackends, torchRunner } from '@millrace/plugin-pytorch';
import { addAMRole, addRole, launchLocalCluster } from '@millrace/runtime';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import {
  type HostFlags,
  type HostPlacement,
  resolveHostPlacement,
  withHostOptions,
} from '../run/host-options.js';

interface PytorchRunFlags extends HostFlags {
  workers: string;
  maxRestarts: string;
  python?: string;
  backend: string;
  checkpointDir?: string;
  name: string;
}

export const pytorchCommand: CliCommand = {
  name: 'pytorch',
  register(program: Command, io: CliIo) {
    const group = program
      .command('pytorch')
      .description('PyTorch clusters (torch.distributed) on this machine');
    withHostOptions(group.command('run'))
      .description(
        'run a torchrun-style script on N workers (a drop-in for torchrun --nproc-per-node N; with --hosts, --nnodes)',
      )
      .argument('<script>', 'the training script (it calls init_process_group with env://)')
      .argument('[args...]', 'arguments passed to the script')
      .option('--workers <n>', 'number of worker processes (ranks) on this host', '1')
      .option('--max-restarts <k>', 'how many times all workers may be restarted after a failure', '3')
      .option(
        '--python <path>',
        'the interpreter (default: one that can import torch, e.g. /usr/bin/python3)',
      )
      .option(
        '--backend <name>',
        `MILLRACE_TORCH_BACKEND for the workers: ${pytorchBackends.join(', ')}`,
        'auto',
      )
      .option(
        '--checkpoint-dir <dir>',
        'MILLRACE_CHECKPOINT_DIR, kept across restarts (default: a temporary one)',
      )
      .option('--name <name>', 'job name (TORCHELASTIC_RUN_ID)', 'torchrun')
      .passThroughOptions()
      .action(async (script: string, args: string[], flags: PytorchRunFlags) => {
        io.setExitCode(await runTorchScript({ script, args, flags, io }));
      });
  },
};

function nonNegativeInteger(value: string, flag: string, minimum: number): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) {
    throw new ConfigError(
      [{ path: flag, message: `must be an integer of at least ${minimum}, got '${value}'` }],
      {
        subject: 'millrace pytorch run',
      },
    );
  }
  return number;
}

function describeObservation(observation: ClusterObservation): string | undefined {
  switch (observation.type) {
    case 'node-failed':
      // The first line only: the traceback comes once, with the job's final error.
      return `${describeNodeFailure(observation.failure).split('\n')[0]}`;
    case 'generation-started':
      return `restarting all workers (generation ${observation.generation})`;
    default:
      return undefined;
  }
}

async function runTorchScript(options: {
  script: string;
  args: string[];
  flags: PytorchRunFlags;
  io: CliIo;
}): Promise<number> {
  const { flags, io } = options;
  const workers = nonNegativeInteger(flags.workers, '--workers', 1);
  const maxRestarts = nonNegativeInteger(flags.maxRestarts, '--max-restarts', 0);
  const engine = createPytorchEngine({ backend: flags.backend as (typeof pytorchBackends)[number] });
  const placement = resolveHostPlacement(flags);
  if (placement.hosts > 1 || placement.join !== undefined)
    return runTorchScriptOnHosts({ ...options, engine, workers, maxRestarts, placement });
  const cluster = launchLocalCluster({
    engine,
    config: {
      name: flags.name,
      engine: engine.name,
      roles: { worker: { instances: workers } },
      maxRestarts,
      ...(flags.checkpointDir ? { checkpointDirectory: flags.checkpointDir } : {}),
    },
    runnerFor: () =>
      torchRunner({
        script: options.script,
        args: options.args,
        python: flags.python,
        cwd: process.cwd(),
        output: (line, stream, context) =>
          (stream === 'stdout' ? io.stdout : io.stderr).write(`[rank ${context.environment.RANK}] ${line}\n`),
      }),
  });
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    io.stderr.write('millrace pytorch: stopping the workers…\n');
    void cluster.stop(new CancelledError('interrupted').message);
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const unsubscribe = cluster.applicationManager.then(
    (am) =>
      am.onObservation((observation) => {
        const line = describeObservation(observation);
        if (line) io.stderr.write(`millrace pytorch: ${line}\n`);
      }),
    () => () => {},
  );
  try {
    const outcome = await cluster.result;
    if (outcome.status === 'succeeded') return 0;
    if (outcome.status === 'stopped' || interrupted) return 130;
    io.stderr.write(`millrace pytorch: ${outcome.error?.message ?? outcome.reason}\n`);
    const exitCode = outcome.failures.at(-1)?.exitCode;
    return exitCode !== undefined && exitCode > 0 ? exitCode : 1;
  } finally {
    (await unsubscribe)();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

/** The same script on host `placement.hostIndex` of several: one dataflow job whose role is the ranks. */
async function runTorchScriptOnHosts(options: {
  script: string;
  args: string[];
  flags: PytorchRunFlags;
  io: CliIo;
  engine: ReturnType<typeof createPytorchEngine>;
  workers: number;
  maxRestarts: number;
  placement: HostPlacement;
}): Promise<number> {
  const { flags, io, engine, placement } = options;
  const ranks = placement.hosts * options.workers;
  const job = new Job({ name: flags.name, hosts: { count: placement.hosts, index: placement.hostIndex } });
  addAMRole(
    job,
    {
      name: flags.name,
      engine: engine.name,
      roles: { worker: { instances: ranks } },
      maxRestarts: options.maxRestarts,
      ...(flags.checkpointDir ? { checkpointDirectory: flags.checkpointDir } : {}),
    },
    {
      engine,
      hosts: {
        join: placement.join,
        sharedDirectory: placement.sharedDirectory,
        joinWaitMs: placement.joinWaitMs,
        amListen: placement.amListen,
        amTls: placement.amTls,
      },
    },
  );
  addRole(job, 'worker', {
    instances: ranks,
    runner: torchRunner({
      script: options.script,
      args: options.args,
      python: flags.python,
      cwd: process.cwd(),
      output: (line, stream, context) =>
        (stream === 'stdout' ? io.stdout : io.stderr).write(`[rank ${context.environment.RANK}] ${line}\n`),
    }),
  });
  job.onEvent((event) => {
    if (event.type !== 'cluster-observation') return;
    const line = describeObservation(event.observation);
    if (line) io.stderr.write(`millrace pytorch: ${line}\n`);
  });
  // The runners' environment must not carry the join URL (it holds the job token).
  delete process.env.MILLRACE_JOIN;
  const controller = new AbortController();
  const onInterrupt = () => {
    io.stderr.write('millrace pytorch: stopping the workers…\n');
    controller.abort(new CancelledError('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    const result = await job.execute({ signal: controller.signal });
    return result.status === 'finished' ? 0 : 130;
  } catch (error) {
    if (controller.signal.aborted || (MillraceError.isInstance(error) && error.code === 'CANCELLED')) {
      io.stderr.write(`millrace pytorch: ${(error as Error).message}\n`);
      return 130;
    }
    io.stderr.write(`millrace pytorch: ${(error as Error).message}\n`);
    const exitCode =
      MillraceError.isInstance(error) && error.code === 'JOB_FAILED'
        ? (error as JobFailedError).failures.at(-1)?.exitCode
        : undefined;
    return exitCode !== undefined && exitCode > 0 ? exitCode : 1;
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}
