/**
 * The files of one local application, in `<state dir>/apps/local/<id>/`, which is also the
 * application's shared directory (host logs, exit files, the join URL host 0 publishes):
 * - `app.json`: what to run (written once by submit);
 * - `supervisor.pid`: the detached supervisor that starts the hosts and records how they end;
 * - `hosts.json`: the hosts' process ids (each leads its own process group);
 * - `outcome.json`: written last by the supervisor, when every host has ended.
 */
import { join } from 'node:path';
import type { AppState } from '../scheduler.js';
import { stateDirectory } from '../state-directory.js';

export interface LocalApp {
  name: string;
  hosts: number;
  /** One argv per host. */
  commands: string[][];
  cwd: string;
  environment: Record<string, string>;
  submittedAt: string;
}

export interface LocalOutcome {
  state: Extract<AppState, 'succeeded' | 'failed' | 'stopped'>;
  finishedAt: string;
}

/** How long a stopping host gets after SIGTERM (a `millrace run` winds down within 15 s) before SIGKILL. */
export const hostStopGraceMs = 20_000;

export function localAppsDirectory(environment: NodeJS.ProcessEnv = process.env): string {
  return join(stateDirectory(environment), 'apps', 'local');
}

export const localAppFiles = {
  app: (directory: string) => join(directory, 'app.json'),
  supervisorPid: (directory: string) => join(directory, 'supervisor.pid'),
  hostPids: (directory: string) => join(directory, 'hosts.json'),
  outcome: (directory: string) => join(directory, 'outcome.json'),
};

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
