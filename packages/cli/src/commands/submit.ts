import { schedulerFor } from '@millrace/scheduler';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { type SubmitFlags, submission } from '../scheduling/submit-options.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * `millrace submit JOB --scheduler local|slurm|kubernetes --hosts N [-- job args]`: hands the job
 * to a cluster manager as N tasks, one per host, each `millrace run --hosts N --host-index I`,
 * and prints the application handle the other commands take.
 */
export const submitCommand: CliCommand = {
  name: 'submit',
  register(program: Command, io: CliIo) {
    program
      .command('submit')
      .description(
        'submit a job to a scheduler as N hosts; prints its handle (local://…, slurm://…, kubernetes://…)',
      )
      .argument('<job>', 'job file or directory (on Kubernetes: its path inside the image)')
      .argument('[args...]', 'arguments for the job (after --)')
      .requiredOption('--scheduler <name>', 'local, slurm or kubernetes')
      .option('--hosts <n>', 'how many hosts (tasks) run the job', '1')
      .option('--name <name>', 'application name (default: the job file name)')
      .option(
        '--dry-run',
        'print what would be submitted (the sbatch script, the manifests as YAML) and submit nothing',
      )
      .option(
        '--shared-dir <dir>',
        'slurm: a directory every host sees (default: .millrace/NAME-ID under the submit directory)',
      )
      .option('--partition <partition>', 'slurm: the partition')
      .option('--time <limit>', 'slurm: wall-clock limit (e.g. 1:00:00)')
      .option('--cpus-per-host <n>', 'slurm: CPUs per host (--cpus-per-task)')
      .option('--mem-per-host <size>', 'slurm: memory per host (e.g. 4G)')
      .option('--hosts-per-node <n>', 'slurm: hosts placed on one node (default 1)')
      .option('--sbatch-arg <arg>', 'slurm: one more sbatch option, as written (repeatable)', collect, [])
      .option('--image <image>', 'kubernetes: container image with Node 20, millrace and the job')
      .option('--namespace <namespace>', 'kubernetes: namespace (default: default)')
      .option('--cpu <cpu>', 'kubernetes: CPU per host (e.g. 2, 500m)')
      .option('--memory <memory>', 'kubernetes: memory per host (e.g. 4Gi)')
      .option(
        '--max-restarts <n>',
        "kubernetes: pod failures retried (backoffLimit; match the job's maxRestarts)",
      )
      .option('--am-port <port>', "kubernetes: host 0's application manager port (default 7070)")
      .action(async (job: string, args: string[], flags: SubmitFlags) => {
        const { scheduler, request, options } = submission(job, args, flags);
        const chosen = schedulerFor(scheduler);
        if (flags.dryRun) {
          io.stdout.write(await chosen.describe(request, options));
          return;
        }
        io.stdout.write(`${await chosen.submit(request, options)}\n`);
      });
  },
};
