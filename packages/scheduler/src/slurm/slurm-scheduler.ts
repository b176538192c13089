import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyMissingError } from '@millrace/core';
import { execa } from 'execa';
import { type AppHandle, formatAppHandle } from '../app-handle.js';
import { SchedulerError, UnknownApplicationError } from '../errors.js';
import { describeHostFailure, hostStatuses, readHostLogs } from '../host-files.js';
import { readJsonFile } from '../json-file.js';
import type { AppState, AppStatus, Scheduler } from '../scheduler.js';
import { stateDirectory } from '../state-directory.js';
import { type SlurmOptions, sbatchScript } from './sbatch-script.js';

/** What this machine remembers of a Slurm job it submitted (Slurm forgets finished jobs after MinJobAge). */
interface SlurmRecord {
  name: string;
  hosts: number;
  sharedDirectory: string;
}

/** How long after Slurm ended a job its hosts get to record their exit (Slurm's KillWait is 30 s by default). */
const hostsEndingBoundMs = 45_000;

/** How long `stop` waits for Slurm to end a cancelled job (its KillWait is 30 s by default). */
const stopBoundMs = 90_000;

const stateOfJobState: Record<string, AppState> = {
  PENDING: 'pending',
  CONFIGURING: 'pending',
  REQUEUED: 'pending',
  REQUEUE_HOLD: 'pending',
  RESIZING: 'pending',
  SUSPENDED: 'pending',
  RUNNING: 'running',
  COMPLETING: 'running',
  SIGNALING: 'running',
  STAGE_OUT: 'running',
  STOPPED: 'running',
  COMPLETED: 'succeeded',
  CANCELLED: 'stopped',
};

/**
 * Slurm through its commands (`sbatch`, `scontrol`, `scancel`), as a user on a login node would
 * run them. Set `SLURM_CONF` in `environment` to talk to a cluster other than the default one.
 */
export function createSlurmScheduler(
  settings: { environment?: NodeJS.ProcessEnv } = {},
): Scheduler<SlurmOptions> {
  const environment = settings.environment ?? process.env;
  const recordsDirectory = join(stateDirectory(environment), 'apps', 'slurm');
  const recordPath = (jobId: string) => join(recordsDirectory, `${jobId}.json`);

  async function slurmCommand(command: string, args: readonly string[]): Promise<string> {
    try {
      const result = await execa(command, args, { env: environment, extendEnv: false, timeout: 30_000 });
      return result.stdout;
    } catch (error) {
      const failure = error as { code?: string; stderr?: string; shortMessage?: string; timedOut?: boolean };
      if (failure.code === 'ENOENT') {
        throw new DependencyMissingError(
          command,
          `${command} is not installed: on Debian install the Slurm client (apt-get install slurm-client), or run millrace submit on a Slurm login node`,
          { cause: error },
        );
      }
      const said = failure.stderr?.trim() || failure.shortMessage || String(error);
      throw new SchedulerError('slurm', `${command} ${args.join(' ')} failed: ${said}`, { cause: error });
    }
  }

  function jobIdOf(handle: AppHandle): string {
    if (handle.scheduler !== 'slurm') throw new Error(`not a Slurm handle: ${formatAppHandle(handle)}`);
    return handle.jobId;
  }

  function recordOf(handle: AppHandle): SlurmRecord {
    const record = readJsonFile<SlurmRecord>(recordPath(jobIdOf(handle)));
    if (!record) {
      throw new UnknownApplicationError(
        formatAppHandle(handle),
        `this machine did not submit Slurm job ${jobIdOf(handle)} (no ${recordPath(jobIdOf(handle))})`,
      );
    }
    return record;
  }

  /** `scontrol show job` fields, or undefined once Slurm no longer knows the job. */
  async function jobFields(jobId: string): Promise<Record<string, string> | undefined> {
    let text: string;
    try {
      text = await slurmCommand('scontrol', ['show', 'job', '--oneliner', jobId]);
    } catch (error) {
      if (SchedulerError.isInstance(error) && /Invalid job id/i.test(error.message)) return undefined;
      throw error;
    }
    const fields: Record<string, string> = {};
    for (const match of text.matchAll(/(\w+)=(\S*)/g)) fields[match[1] as string] ??= match[2] as string;
    return fields;
  }

  async function status(handle: AppHandle): Promise<AppStatus> {
    const record = recordOf(handle);
    const fields = await jobFields(jobIdOf(handle));
    const jobState = fields?.JobState;
    let state: AppState;
    if (jobState) {
      state = stateOfJobState[jobState] ?? 'failed';
    } else {
      // Slurm forgot the job: the exit files the tasks wrote are the record.
      const hosts = hostStatuses(record.sharedDirectory, record.hosts, 'failed');
      state = hosts.every((host) => host.state === 'succeeded')
        ? 'succeeded'
        : hosts.some((host) => host.state === 'failed')
          ? 'failed'
          : 'stopped';
    }
    const running: AppState = state === 'pending' || state === 'running' ? state : 'stopped';
    let hosts = hostStatuses(record.sharedDirectory, record.hosts, running);
    // Slurm calls a job ended once its tasks' wrappers are signalled; a host is gone only when its
    // exit file is written. Report it running until then (bounded: a host SIGKILLed never writes).
    const endedMs = fields?.EndTime ? Date.parse(fields.EndTime) : Number.NaN;
    const unrecorded = hosts.some((host) => host.exitCode === undefined);
    if (jobState && state !== running && unrecorded && Date.now() - endedMs < hostsEndingBoundMs) {
      hosts = hostStatuses(record.sharedDirectory, record.hosts, 'running');
      return {
        handle: formatAppHandle(handle),
        scheduler: 'slurm',
        name: record.name,
        state: 'running',
        schedulerState: `${jobState}, hosts still ending`,
        hosts,
      };
    }
    const reason = fields?.Reason && fields.Reason !== 'None' ? `Slurm reason: ${fields.Reason}` : undefined;
    return {
      handle: formatAppHandle(handle),
      scheduler: 'slurm',
      name: record.name,
      state,
      schedulerState: jobState ?? 'forgotten by Slurm',
      hosts,
      message:
        state === 'failed'
          ? (describeHostFailure(record.sharedDirectory, hosts) ??
            `Slurm job ended ${jobState}${reason ? ` (${reason})` : ''}`)
          : undefined,
    };
  }

  function resolvedOptions(request: { name: string }, options: SlurmOptions) {
    const cwd = resolve(options.cwd ?? process.cwd());
    const sharedDirectory = resolve(
      options.sharedDirectory ?? join(cwd, '.millrace', `${request.name}-${Date.now().toString(36)}`),
    );
    return { ...options, cwd, sharedDirectory };
  }

  return {
    name: 'slurm',
    async describe(request, options) {
      return sbatchScript(request, resolvedOptions(request, options));
    },
    async submit(request, options) {
      const resolved = resolvedOptions(request, options);
      const script = sbatchScript(request, resolved);
      mkdirSync(resolved.sharedDirectory, { recursive: true });
      const scriptPath = join(resolved.sharedDirectory, 'submit.sbatch');
      writeFileSync(scriptPath, script, { mode: 0o700 });
      const output = await slurmCommand('sbatch', ['--parsable', scriptPath]);
      const jobId = /^(\d+)/.exec(output.trim())?.[1];
      if (!jobId) throw new SchedulerError('slurm', `sbatch answered '${output.trim()}', not a job id`);
      mkdirSync(recordsDirectory, { recursive: true, mode: 0o700 });
      const record: SlurmRecord = {
        name: request.name,
        hosts: request.hosts,
        sharedDirectory: resolved.sharedDirectory,
      };
      writeFileSync(recordPath(jobId), `${JSON.stringify(record)}\n`);
      return formatAppHandle({ scheduler: 'slurm', jobId });
    },
    status,
    async logs(handle, options = {}) {
      const record = recordOf(handle);
      return readHostLogs(record.sharedDirectory, record.hosts, options.host);
    },
    async stop(handle) {
      recordOf(handle);
      await slurmCommand('scancel', [jobIdOf(handle)]);
      const deadline = Date.now() + stopBoundMs;
      for (;;) {
        const current = await status(handle);
        if (current.state !== 'pending' && current.state !== 'running') return current;
        if (Date.now() > deadline) {
          throw new SchedulerError(
            'slurm',
            `job ${jobIdOf(handle)} still ${current.schedulerState} ${stopBoundMs} ms after scancel`,
          );
        }
        await sleep(250);
      }
    },
  };
}
