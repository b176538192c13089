import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DependencyMissingError } from '@millrace/core';
import { type AppHandle, formatAppHandle } from '../app-handle.js';
import { UnknownApplicationError } from '../errors.js';
import { hostCommand } from '../host-command.js';
import { describeHostFailure, hostStatuses, readHostLogs } from '../host-files.js';
import { readJsonFile } from '../json-file.js';
import type { AppStatus, HostLog, Scheduler, SubmitRequest } from '../scheduler.js';
import {
  hostStopGraceMs,
  isAlive,
  type LocalApp,
  type LocalOutcome,
  localAppFiles,
  localAppsDirectory,
} from './local-app.js';

export interface LocalSchedulerOptions {
  /** Working directory of every host (default: this process's). */
  cwd?: string;
}

/**
 * N host processes on this machine, run by a detached supervisor: the same host command as Slurm
 * and Kubernetes run, so the multi-host path is exercised everywhere.
 */
export function createLocalScheduler(
  settings: { environment?: NodeJS.ProcessEnv } = {},
): Scheduler<LocalSchedulerOptions> {
  const environment = settings.environment ?? process.env;
  const appsDirectory = localAppsDirectory(environment);

  const directoryOf = (handle: AppHandle): string => {
    if (handle.scheduler !== 'local') throw new Error(`not a local handle: ${formatAppHandle(handle)}`);
    const directory = join(appsDirectory, handle.id);
    if (!existsSync(localAppFiles.app(directory))) {
      throw new UnknownApplicationError(
        formatAppHandle(handle),
        `no local application with that id in ${appsDirectory} (local handles are only known on the machine that submitted them)`,
      );
    }
    return directory;
  };

  const planOf = (request: SubmitRequest, options: LocalSchedulerOptions, directory: string): LocalApp => ({
    name: request.name,
    hosts: request.hosts,
    commands: Array.from({ length: request.hosts }, (_, index) =>
      hostCommand(request, { hostIndex: String(index), sharedDirectory: directory }),
    ),
    cwd: options.cwd ?? process.cwd(),
    environment: { ...request.environment },
    submittedAt: new Date().toISOString(),
  });

  async function status(handle: AppHandle): Promise<AppStatus> {
    const directory = directoryOf(handle);
    const app = readJsonFile<LocalApp>(localAppFiles.app(directory)) as LocalApp;
    const outcome = readJsonFile<LocalOutcome>(localAppFiles.outcome(directory));
    const supervisorPid = Number(readFileSync(localAppFiles.supervisorPid(directory), 'utf8'));
    const base = { handle: formatAppHandle(handle), scheduler: 'local' as const, name: app.name };
    if (outcome) {
      const hosts = hostStatuses(directory, app.hosts, 'stopped');
      return {
        ...base,
        state: outcome.state,
        schedulerState: outcome.state,
        hosts,
        message: outcome.state === 'failed' ? describeHostFailure(directory, hosts) : undefined,
      };
    }
    if (isAlive(supervisorPid)) {
      return {
        ...base,
        state: 'running',
        schedulerState: 'running',
        hosts: hostStatuses(directory, app.hosts, 'running'),
      };
    }
    const hosts = hostStatuses(directory, app.hosts, 'failed');
    return {
      ...base,
      state: 'failed',
      schedulerState: 'lost',
      hosts,
      message: `the local supervisor (pid ${supervisorPid}) died before every host ended; ${describeHostFailure(directory, hosts) ?? 'no host recorded a failure'}`,
    };
  }

  return {
    name: 'local',
    async describe(request, options) {
      const plan = planOf(request, options, join(appsDirectory, `${request.name}-ID`));
      return `${plan.commands.map((argv) => argv.join(' ')).join('\n')}\n`;
    },
    async submit(request, options) {
      const supervisor = supervisorEntry();
      const id = `${request.name}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
      const directory = join(appsDirectory, id);
      mkdirSync(directory, { recursive: true, mode: 0o700 });
      writeFileSync(
        localAppFiles.app(directory),
        `${JSON.stringify(planOf(request, options, directory), null, 2)}\n`,
      );
      const child = spawn(process.execPath, [supervisor, directory], {
        detached: true,
        stdio: 'ignore',
        env: environment,
      });
      writeFileSync(localAppFiles.supervisorPid(directory), `${child.pid}\n`);
      child.unref();
      return formatAppHandle({ scheduler: 'local', id });
    },
    status,
    async logs(handle, options = {}): Promise<HostLog[]> {
      const directory = directoryOf(handle);
      const app = readJsonFile<LocalApp>(localAppFiles.app(directory)) as LocalApp;
      return readHostLogs(directory, app.hosts, options.host);
    },
    async stop(handle) {
      const directory = directoryOf(handle);
      const supervisorPid = Number(readFileSync(localAppFiles.supervisorPid(directory), 'utf8'));
      if (!existsSync(localAppFiles.outcome(directory)) && isAlive(supervisorPid)) {
        process.kill(supervisorPid, 'SIGTERM');
      }
      // The supervisor gives hosts hostStopGraceMs before SIGKILL; wait that and a little more.
      const deadline = Date.now() + hostStopGraceMs + 10_000;
      while (
        Date.now() < deadline &&
        !existsSync(localAppFiles.outcome(directory)) &&
        isAlive(supervisorPid)
      ) {
        await sleep(100);
      }
      if (!existsSync(localAppFiles.outcome(directory))) killRecordedHosts(directory);
      return status(handle);
    },
  };
}

/** Last resort when the supervisor is gone: SIGKILL every host group it recorded. */
function killRecordedHosts(directory: string): void {
  for (const pid of readJsonFile<(number | null)[]>(localAppFiles.hostPids(directory)) ?? []) {
    if (pid === null) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** The built supervisor program (dist/local/local-app-supervisor.js), found from this module's package. */
function supervisorEntry(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth += 1) {
    if (existsSync(join(directory, 'package.json'))) break;
    directory = dirname(directory);
  }
  const entry = join(directory, 'dist', 'local', 'local-app-supervisor.js');
  if (!existsSync(entry)) {
    throw new DependencyMissingError(
      '@millrace/scheduler',
      `the local scheduler's supervisor ${entry} is missing; build @millrace/scheduler (npm run build)`,
    );
  }
  return entry;
}
