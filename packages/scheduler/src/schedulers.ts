import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError } from '@millrace/core';
import { type AppHandle, parseAppHandle, type SchedulerName } from './app-handle.js';
import { createKubernetesScheduler } from './kubernetes/kubernetes-scheduler.js';
import type { KubernetesOptions } from './kubernetes/manifests.js';
import { createLocalScheduler, type LocalSchedulerOptions } from './local/local-scheduler.js';
import { type AppStatus, type Scheduler, terminalStates } from './scheduler.js';
import type { SlurmOptions } from './slurm/sbatch-script.js';
import { createSlurmScheduler } from './slurm/slurm-scheduler.js';

export interface SchedulerOptionsByName {
  local: LocalSchedulerOptions;
  slurm: SlurmOptions;
  kubernetes: KubernetesOptions;
}

/** The scheduler of that name, talking to the cluster manager `environment` points at. */
export function schedulerFor<Name extends SchedulerName>(
  name: Name,
  environment: NodeJS.ProcessEnv = process.env,
): Scheduler<SchedulerOptionsByName[Name]> {
  const create = {
    local: createLocalScheduler,
    slurm: createSlurmScheduler,
    kubernetes: createKubernetesScheduler,
  }[name] as (settings: { environment: NodeJS.ProcessEnv }) => Scheduler<SchedulerOptionsByName[Name]>;
  return create({ environment });
}

/** The scheduler a handle's text names, and the parsed handle. */
export function schedulerOfHandle(
  text: string,
  environment: NodeJS.ProcessEnv = process.env,
): { handle: AppHandle; scheduler: Scheduler<unknown> } {
  const handle = parseAppHandle(text);
  return { handle, scheduler: schedulerFor(handle.scheduler, environment) as Scheduler<unknown> };
}

/**
 * Polls until the application ends and returns its final status. `onChange` sees every state
 * change (for progress lines). Bounded by `timeoutMs` when given, and by `signal`.
 */
export async function waitForApplication(
  scheduler: Scheduler<unknown>,
  handle: AppHandle,
  options: {
    intervalMs?: number;
    timeoutMs?: number;
    signal?: AbortSignal;
    onChange?: (status: AppStatus) => void;
  } = {},
): Promise<AppStatus> {
  const deadline =
    options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  let last: string | undefined;
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError('stopped waiting (the application keeps running)');
    const status = await scheduler.status(handle);
    if (status.state !== last) {
      last = status.state;
      options.onChange?.(status);
    }
    if (terminalStates.has(status.state)) return status;
    if (Date.now() > deadline) return status;
    await sleep(options.intervalMs ?? 500, undefined, { signal: options.signal }).catch(() => undefined);
  }
}

/** The exit code `millrace wait` mirrors: 0 succeeded, 1 failed, 130 stopped (as `millrace run`). */
export function exitCodeOf(status: AppStatus): number {
  return status.state === 'succeeded' ? 0 : status.state === 'stopped' ? 130 : 1;
}
